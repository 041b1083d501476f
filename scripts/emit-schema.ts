import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildBareSchema, printAppSchema } from '../src/graphql/schema';

/** Writes schema.graphql from the code (`npm run schema`). */
buildBareSchema().then((schema) => {
  const file = path.join(__dirname, '..', 'schema.graphql');
  writeFileSync(file, printAppSchema(schema));
  process.stdout.write(`wrote ${file}\n`);
});
