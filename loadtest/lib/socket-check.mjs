// What one socket must see: every event of its own user, once, in order. Each event's data
// carries its user (u), its publisher (p) and that publisher's count for the user (k), so a
// socket knows exactly which events it has missed, seen twice or seen out of order.
//
// In order means the system's own order. Herald numbers a user's events: their ids must
// increase on every socket (the order in which concurrent publish calls are stored is not
// promised: a retry can put a later call first). The peers number nothing: there the order is
// that of the publisher's calls on its one connection (`kOrdered`).
import { compareEventIdParts, parseEventId } from '@herald/protocol';

export class SocketCheck {
  constructor(userId, publishers, { kOrdered = true } = {}) {
    this.userId = userId;
    this.kOrdered = kOrdered;
    this.lastK = new Array(publishers).fill(0);
    this.missing = new Set();
    this.delivered = 0;
    this.duplicated = 0;
    this.reordered = 0;
    this.leaked = 0;
    /** The id of the last event (systems that number events): where a reconnect resumes. */
    this.lastId = undefined;
    this.lastIdParts = undefined;
  }

  /** Judges one received event; true when it is a new event of this socket's user. */
  accept(data, id) {
    if (data === null || typeof data !== 'object' || data.u !== this.userId) {
      this.leaked += 1;
      return false;
    }
    const { p, k } = data;
    const last = this.lastK[p];
    if (k === last + 1) {
      this.lastK[p] = k;
    } else if (k > last) {
      for (let missed = last + 1; missed < k; missed++) this.missing.add(`${p}:${missed}`);
      this.lastK[p] = k;
    } else if (this.missing.delete(`${p}:${k}`)) {
      if (this.kOrdered) this.reordered += 1;
    } else {
      this.duplicated += 1;
      return false;
    }
    if (id !== undefined) this.checkIdOrder(id);
    this.delivered += 1;
    return true;
  }

  checkIdOrder(id) {
    const parts = parseEventId(id);
    const last = this.lastIdParts;
    // An id that is not one cannot be in order.
    if (parts === undefined || (last !== undefined && compareEventIdParts(parts, last) <= 0)) {
      this.reordered += 1;
      return;
    }
    this.lastId = id;
    this.lastIdParts = parts;
  }

  /** Events of this user it never got, given how many each publisher sent to the user. */
  lost(sentByPublisher) {
    let lost = this.missing.size;
    sentByPublisher.forEach((sent, p) => {
      lost += Math.max(0, sent - this.lastK[p]);
    });
    return lost;
  }
}
