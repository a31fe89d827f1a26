import { Migration20261125000000_event_store } from './Migration20261125000000_event_store';
import { Migration20261125010000_realtime } from './Migration20261125010000_realtime';
import { Migration20261125020000_removed_participants } from './Migration20261125020000_removed_participants';
import { Migration20261126000000_relay_leadership } from './Migration20261126000000_relay_leadership';
import { Migration20261201000000_membership_events } from './Migration20261201000000_membership_events';
import { Migration20261202000000_write_path } from './Migration20261202000000_write_path';
import { Migration20261202010000_outbox_compression } from './Migration20261202010000_outbox_compression';
import { Migration20261206000000_partitions } from './Migration20261206000000_partitions';
import { Migration20261210000000_outbox_retention } from './Migration20261210000000_outbox_retention';

/** Listed, not discovered by glob, so the same list works from TypeScript sources and from dist/. */
export const MIGRATIONS = [
  { name: 'Migration20261125000000_event_store', class: Migration20261125000000_event_store },
  { name: 'Migration20261125010000_realtime', class: Migration20261125010000_realtime },
  { name: 'Migration20261125020000_removed_participants', class: Migration20261125020000_removed_participants },
  { name: 'Migration20261126000000_relay_leadership', class: Migration20261126000000_relay_leadership },
  { name: 'Migration20261201000000_membership_events', class: Migration20261201000000_membership_events },
  { name: 'Migration20261202000000_write_path', class: Migration20261202000000_write_path },
  { name: 'Migration20261202010000_outbox_compression', class: Migration20261202010000_outbox_compression },
  { name: 'Migration20261206000000_partitions', class: Migration20261206000000_partitions },
  { name: 'Migration20261210000000_outbox_retention', class: Migration20261210000000_outbox_retention },
];
