import { Logger } from '@nestjs/common';

// Views and runtimes that tests create in their own process log through Nest's logger:
// keep warnings and errors, which tell why a test failed, and drop the rest.
Logger.overrideLogger(['error', 'warn', 'fatal']);
