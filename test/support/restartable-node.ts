import { MemoryBroker, type MemoryBus } from '@herald/gateway';
import { startTestGateway, type TestGateway } from './in-process-gateway.js';

/** A gateway node on a fixed port over a bus that outlives it, so it can be stopped and started again. */
export class RestartableNode {
  node: TestGateway | undefined;
  constructor(
    readonly bus: MemoryBus,
    readonly port: number,
  ) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  async start(): Promise<void> {
    this.node = await startTestGateway({ PORT: String(this.port) }, { broker: new MemoryBroker({ bus: this.bus }) });
  }

  async stop(): Promise<void> {
    await this.node?.stop();
    this.node = undefined;
  }
}
