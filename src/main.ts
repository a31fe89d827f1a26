import { runCli } from './interfaces/cli/parley-cli';

// `npm start`: every role in one process; embedded PostgreSQL when DATABASE_URL is unset.
void runCli([process.argv[0]!, process.argv[1]!, 'start']);
