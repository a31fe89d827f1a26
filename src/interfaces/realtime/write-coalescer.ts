/** The part of a socket's stream the coalescer needs (net.Socket has it; so does any stream.Writable). */
export interface CorkableStream {
  cork(): void;
  uncork(): void;
  readonly destroyed: boolean;
  /** Above 0 while corked: `ws` corks only within one synchronous send, so here that means held already. */
  readonly writableCorked: number;
}

/**
 * Sends every frame one event-loop turn writes to one client in one system call. A loopback write costs
 * about as much as building a small frame, and a burst of events (a backlog read from Redis in one
 * chunk, a fan-out that outlasts the next posts) writes several frames to each socket in one turn: the
 * first write corks the socket's stream, and one `setImmediate` for all of them uncorks them after the
 * turn, so each stream leaves in one `writev`. Corked bytes count in `ws.bufferedAmount`, so the
 * slow-consumer bound still sees them, and frames keep their order (a stream's buffer is FIFO).
 */
export class WriteCoalescer {
  private held: CorkableStream[] = [];
  private scheduled = false;

  /** Called before each write to `stream`: holds its writes until the end of the current event-loop turn. */
  hold(stream: CorkableStream): void {
    if (stream.writableCorked > 0 || stream.destroyed) return;
    stream.cork();
    this.held.push(stream);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Uncorks everything held in this turn; a stream destroyed meanwhile has nothing left to send. */
  readonly flush = (): void => {
    const streams = this.held;
    this.held = [];
    this.scheduled = false;
    for (const stream of streams) if (!stream.destroyed) stream.uncork();
  };
}
