// What went wrong in the logger, for the page (every message, as it happens)
// and for the run's manifest (the count of rejected messages and the first few).
import * as P from '../protocol.js';

const MAX_ERROR_MESSAGES = 20;

export class Reporter {
  rejected_messages = 0;
  messages = [];

  constructor(post) {
    this.post = post; // (type, fields) to the page
  }

  error(message) {
    console.warn(`[vpslog logger] ${message}`);
    if (this.messages.length < MAX_ERROR_MESSAGES) this.messages.push(message);
    this.post(P.LOG_ERROR, { message });
  }

  reject(where, why) {
    this.rejected_messages++;
    this.error(`rejected message from ${where}: ${why}`);
  }

  // A new run starts with none.
  reset() {
    this.rejected_messages = 0;
    this.messages = [];
  }

  // The manifest's `errors`.
  manifestErrors() {
    return { rejected_messages: this.rejected_messages, messages: [...this.messages] };
  }
}
