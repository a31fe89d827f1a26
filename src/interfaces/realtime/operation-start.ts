/**
 * One `subscribe` message while the server handles it: a query or mutation running, or a subscription
 * being checked, joined and replayed. Once the client completes the id, the id is the client's again
 * (graphql-ws's PROTOCOL.md) and may start something new at once, while this start may still be
 * awaiting the database. So whether it may still send or go live is asked of the start, never of the
 * id: a cancelled start sends no frame and joins no route, and leaves the id's new owner alone.
 */
export class OperationStart {
  private done = false;

  constructor(readonly id: string) {}

  /** The client completed the id, or the server ended what it started: nothing more is sent for it. */
  get cancelled(): boolean {
    return this.done;
  }

  cancel(): void {
    this.done = true;
  }
}
