import { library } from '../../tsup.shared.js';

// `testing` is the store conformance suite (`@sms-otp/core/testing`); it imports vitest, an optional peer.
export default library({ index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' });
