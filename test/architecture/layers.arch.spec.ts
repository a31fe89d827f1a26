import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
// Types only: the package is ESM, so TypeScript needs to be told to read its `import` typings from this CommonJS file.
import type { IConfiguration, ICruiseResult, IViolation } from 'dependency-cruiser' with {
  'resolution-mode': 'import',
};

/**
 * The layering rule of DESIGN.md §1, with the rules in /.dependency-cruiser.cjs, and proof that
 * each of those rules fires on a deliberately broken tree (STYLE.md item 9).
 */

const ROOT = resolve(__dirname, '../..');

// The exact object both cruises get: the real tree and the broken one run the same rules.
const ruleSet: IConfiguration = require('../../.dependency-cruiser.cjs');
const ruleNames = (ruleSet.forbidden ?? []).map((rule) => rule.name);

// dependency-cruiser is ESM only (its exports map has no `require` condition, and its tsconfig reader uses
// top-level await), which jest's CommonJS module registry cannot load without --experimental-vm-modules.
// So its JS API runs in a child Node process, with the rule set passed in and the result handed back as JSON.
const CRUISE_SCRIPT = `
import { cruise } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
const ruleSet = JSON.parse(process.argv[1]);
// The CLI does this step; the API wants the tsconfig already parsed.
const tsConfig = extractTSConfig(ruleSet.options.tsConfig.fileName);
const result = await cruise(JSON.parse(process.argv[2]), { validate: true, ruleSet }, {}, { tsConfig });
process.stdout.write(JSON.stringify(result.output));
`;

/** The trees the rules speak of: the server, the client library and the web client. */
const TREES = ['src', 'client', 'web'];

/** Cruises those of `<cwd>/{src,client,web}` that exist with `ruleSet`; paths in the result are relative to `cwd`. */
async function cruiseSrc(cwd: string): Promise<ICruiseResult> {
  const trees = TREES.filter((tree) => existsSync(join(cwd, tree)));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '--eval', CRUISE_SCRIPT, JSON.stringify(ruleSet), JSON.stringify(trees)],
    // `cwd` must lie inside the project, so that the bare `dependency-cruiser` import resolves.
    { cwd, maxBuffer: 256 * 1024 * 1024, timeout: 50_000 },
  );
  const output = JSON.parse(stdout) as ICruiseResult | string;
  if (typeof output === 'string') {
    throw new Error(`expected a cruise result object, got: ${output.slice(0, 200)}`);
  }
  return output;
}

function describeViolation(violation: IViolation): string {
  const cycle = violation.cycle ? ` (cycle: ${violation.cycle.map((step) => step.name).join(' → ')})` : '';
  return `${violation.rule.name}: ${violation.from} → ${violation.to}${cycle}`;
}

describe('architecture: layers (DESIGN.md §1)', () => {
  it('src/, client/ and web/ have no dependency rule violations', async () => {
    const result = await cruiseSrc(ROOT);

    // Guard against a vacuous pass: every layer was cruised and every rule was in force.
    const sources = result.modules.map((module) => module.source);
    for (const layer of ['src/domain', 'src/application', 'src/infrastructure', 'src/interfaces', 'client', 'web/src']) {
      expect(sources.some((source) => source.startsWith(`${layer}/`))).toBe(true);
    }
    expect(result.summary.ruleSetUsed?.forbidden?.map((rule) => rule.name)).toEqual(ruleNames);

    expect(result.summary.violations.map(describeViolation)).toEqual([]);
  });

  describe('each rule fires on a deliberately broken tree', () => {
    let tree: string;
    let violations: IViolation[];

    /** `rule: from → to`, with a package as `npm:<name>` whichever node_modules folder it resolved into. */
    const describeBreach = (violation: IViolation) => {
      const to = violation.to.replace(/^(?:.*\/)?node_modules\/((?:@[^/]+\/)?[^/]+)\/.*$/, 'npm:$1');
      return `${violation.rule.name}: ${violation.from} → ${to}`;
    };

    beforeAll(async () => {
      // A hidden folder (leading dot): tsc's `include` globs and jest's testMatch both pass over it.
      tree = mkdtempSync(join(__dirname, '.tmp-'));
      const files: Record<string, string> = {
        'tsconfig.json': JSON.stringify({
          compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: true },
          include: ['src'],
        }),
        // @nestjs/common resolves (node_modules further up); not-installed-package does not: both must be caught.
        'src/domain/x.ts': [
          "import { Injectable } from '@nestjs/common';",
          "import { y } from '../infrastructure/y';",
          'export const x = { Injectable, y };',
        ].join('\n'),
        'src/domain/w.ts': [
          "import { thing } from 'not-installed-package';",
          'export const w = thing;',
        ].join('\n'),
        'src/domain/cycle-a.ts': ["import { b } from './cycle-b';", 'export const a = (): unknown => b;'].join('\n'),
        'src/domain/cycle-b.ts': ["import { a } from './cycle-a';", 'export const b = (): unknown => a;'].join('\n'),
        // The infrastructure import is type-only: tsc erases it, so it is only seen with tsPreCompilationDeps.
        // The @nestjs and domain imports are allowed and must stay quiet.
        'src/application/z.ts': [
          "import { randomUUID } from 'node:crypto';",
          "import type { Y } from '../infrastructure/y';",
          "import { CommandHandler } from '@nestjs/cqrs';",
          "import { Injectable } from '@nestjs/common';",
          "import { x } from '../domain/x';",
          'export const z = { randomUUID, CommandHandler, Injectable, x, y: undefined as Y | undefined };',
        ].join('\n'),
        'src/interfaces/graphql/g.ts': [
          "import { y } from '../../infrastructure/y';",
          "import { main } from '../../main';",
          "import { z } from '../../application/z';",
          "import { c } from '../composition/c';",
          'export const g = { y, main, z, c };',
        ].join('\n'),
        // The composition root is the one place allowed to pick an adapter.
        'src/interfaces/composition/c.ts': [
          "import { y } from '../../infrastructure/y';",
          'export const c = y;',
        ].join('\n'),
        'src/infrastructure/y.ts': [
          "import { g } from '../interfaces/graphql/g';",
          'export interface Y { readonly g: unknown }',
          'export const y: Y = { g };',
        ].join('\n'),
        'src/main.ts': 'export const main = 1;',
        // The client library may use graphql-ws and itself; nothing of the server, no node builtin.
        'client/index.ts': [
          "import { createClient } from 'graphql-ws';",
          "import { readFileSync } from 'node:fs';",
          "import { x } from '../src/domain/x';",
          "import { own } from './own';",
          'export const index = { createClient, readFileSync, x, own };',
        ].join('\n'),
        'client/own.ts': 'export const own = 1;',
        // The page may use the client library and itself; nothing of the server.
        'web/src/page.ts': [
          "import { index } from '../../client/index';",
          "import { g } from '../../src/interfaces/graphql/g';",
          "import { part } from './part';",
          'export const page = { index, g, part };',
        ].join('\n'),
        'web/src/part.ts': 'export const part = 1;',
      };
      for (const [file, content] of Object.entries(files)) {
        mkdirSync(dirname(join(tree, file)), { recursive: true });
        writeFileSync(join(tree, file), `${content}\n`);
      }
      violations = (await cruiseSrc(tree)).summary.violations;
    });

    afterAll(() => {
      if (tree) rmSync(tree, { recursive: true, force: true });
    });

    it.each(ruleNames)('%s fires', (name) => {
      expect(violations.map((violation) => violation.rule.name)).toContain(name);
    });

    it('fires for exactly the planted breaches, and the allowed imports stay quiet', () => {
      expect(violations.map(describeBreach).sort()).toEqual(
        [
          'domain-imports-only-domain: src/domain/x.ts → npm:@nestjs/common',
          'domain-imports-only-domain: src/domain/x.ts → src/infrastructure/y.ts',
          'domain-imports-only-domain: src/domain/w.ts → not-installed-package',
          // A cycle is reported once, from where it is first met.
          'no-circular-in-domain: src/domain/cycle-a.ts → src/domain/cycle-b.ts',
          // dependency-cruiser names a builtin without its `node:` prefix.
          'application-imports-only-domain-and-nest: src/application/z.ts → crypto',
          'application-imports-only-domain-and-nest: src/application/z.ts → src/infrastructure/y.ts',
          'infrastructure-not-to-interfaces: src/infrastructure/y.ts → src/interfaces/graphql/g.ts',
          'interfaces-infrastructure-only-in-composition: src/interfaces/graphql/g.ts → src/infrastructure/y.ts',
          'interfaces-adapters-import-inward-only: src/interfaces/graphql/g.ts → src/infrastructure/y.ts',
          'interfaces-adapters-import-inward-only: src/interfaces/graphql/g.ts → src/main.ts',
          'client-library-is-standalone: client/index.ts → fs',
          'client-library-is-standalone: client/index.ts → src/domain/x.ts',
          'web-client-uses-the-client-library-only: web/src/page.ts → src/interfaces/graphql/g.ts',
        ].sort(),
      );
    });

    it('catches a type-only import', () => {
      const typeOnly = violations.find(
        (violation) => violation.from === 'src/application/z.ts' && violation.to === 'src/infrastructure/y.ts',
      );
      expect(typeOnly?.dependencyTypes).toContain('type-only');
    });

    it('lets the composition root import an adapter', () => {
      const fromComposition = violations.filter((violation) =>
        violation.from.startsWith('src/interfaces/composition/'),
      );
      expect(fromComposition.map(describeViolation)).toEqual([]);
    });
  });
});
