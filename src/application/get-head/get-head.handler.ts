import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { ChatReadModel } from '../ports';
import { GetHeadQuery } from './get-head.query';

@QueryHandler(GetHeadQuery)
export class GetHeadHandler implements IQueryHandler<GetHeadQuery, string> {
  constructor(private readonly readModel: ChatReadModel) {}

  execute(): Promise<string> {
    return this.readModel.head();
  }
}
