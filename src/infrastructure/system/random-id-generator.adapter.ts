import { randomUUID } from 'node:crypto';
import { IdGenerator } from '../../application';

export class RandomIdGenerator extends IdGenerator {
  newId(): string {
    return randomUUID();
  }
}
