import { describeEventStoreContract } from '../event-store.contract.ts';
import { openPostgresHarness } from './postgres-harness.ts';

describeEventStoreContract('PostgreSQL', openPostgresHarness, { multiProcess: true });
