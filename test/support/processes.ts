export { ManagedProcess as TestProcess } from '../../scripts/lib/managed-process';
