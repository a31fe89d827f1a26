export abstract class IdGenerator {
  abstract newId(): string;
}
