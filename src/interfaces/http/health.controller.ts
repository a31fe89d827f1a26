import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import type { Response } from 'express';
import { evaluateReadiness, Readiness } from './readiness';

@Controller()
export class HealthController {
  constructor(private readonly readiness: Readiness) {}

  /** Alive: the process answers. Says nothing about its dependencies, so an orchestrator does not restart it for them. */
  @Get('healthz')
  @HttpCode(200)
  healthz() {
    return { status: 'ok' };
  }

  /** Ready: migrations ran and every dependency answers; 503 otherwise, with which one failed. */
  @Get('readyz')
  async readyz(@Res() response: Response) {
    const { ready, checks } = await evaluateReadiness(this.readiness.checks());
    response.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
  }
}
