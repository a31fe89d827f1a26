import { Query } from '@nestjs/cqrs';

export class GetHeadQuery extends Query<string> {}
