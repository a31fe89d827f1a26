import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';

/** Prometheus exposition (DESIGN.md §6); the composition root provides the registry. */
export abstract class MetricsSource {
  abstract contentType(): string;
  abstract render(): Promise<string>;
}

@Controller()
export class MetricsController {
  constructor(private readonly source: MetricsSource) {}

  @Get('metrics')
  async metrics(@Res() response: Response) {
    response.setHeader('content-type', this.source.contentType());
    response.send(await this.source.render());
  }
}
