import { Injectable } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { Ticket } from './domain/ticket';

export interface MutexEventMap {
  queued: [Ticket];
  granted: [Ticket];
  renewed: [Ticket];
  ended: [Ticket];
}

/** In-process notifications of committed lock transitions, for observers such as metrics. */
@Injectable()
export class MutexEventBus extends EventEmitter<MutexEventMap> {}
