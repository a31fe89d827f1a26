import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Readiness, ReadinessProbe } from './readiness';

@Controller()
export class HealthController {
  /** One per instance: its checks are shared by concurrent probes. */
  private readonly probe = new ReadinessProbe();

  constructor(private readonly readiness: Readiness) {}

  /** Alive: the process answers. Says nothing about its dependencies, so an orchestrator does not restart it for them. */
  @Get('healthz')
  @HttpCode(200)
  healthz() {
    return { status: 'ok' };
  }

  /** Ready: migrations ran and every dependency answers in time; 503 otherwise, naming what failed. */
  @Get('readyz')
  async readyz(@Res() response: Response) {
    const { ready, checks, failing } = await this.probe.evaluate(this.readiness.checks());
    response.status(ready ? 200 : 503).json(ready ? { status: 'ready', checks } : { status: 'not ready', checks, failing });
  }
}
