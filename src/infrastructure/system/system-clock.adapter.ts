import { Clock } from '../../application';

export class SystemClock extends Clock {
  now(): Date {
    return new Date();
  }
}
