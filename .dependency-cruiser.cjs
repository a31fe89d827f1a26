/**
 * The layering rule of DESIGN.md §1, checked in `npm test` by test/architecture/layers.arch.spec.ts,
 * which also cruises a deliberately broken tree to prove that every rule below fires (STYLE.md item 9).
 *
 * Paths are relative to the directory the cruise runs in (the project root, or the broken tree's root),
 * except npm packages, which may resolve to a node_modules folder further up: hence `(^|/)node_modules/`.
 * A `pathNot` on `to` also catches node builtins (`node:crypto`) and packages that do not resolve at all,
 * whose `to` is then just the name as written (`@nestjs/common`), so no `dependencyTypes` list can leak.
 */
module.exports = {
  forbidden: [
    {
      name: 'domain-imports-only-domain',
      comment: 'DESIGN.md §1: src/domain is pure; no package, no node builtin, no outer layer.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { pathNot: '^src/domain/' },
    },
    {
      name: 'application-imports-only-domain-and-nest',
      comment: 'DESIGN.md §1: src/application may use src/domain, itself, @nestjs/cqrs and @nestjs/common only.',
      severity: 'error',
      from: { path: '^src/application/' },
      to: {
        pathNot: ['^src/(domain|application)/', '(^|/)node_modules/@nestjs/(cqrs|common)/'],
      },
    },
    {
      name: 'infrastructure-not-to-interfaces',
      comment: 'DESIGN.md §1: adapters never reach into the GraphQL/HTTP/CLI edge.',
      severity: 'error',
      from: { path: '^src/infrastructure/' },
      to: { path: '^src/interfaces/' },
    },
    {
      name: 'interfaces-infrastructure-only-in-composition',
      comment: 'DESIGN.md §1 and STYLE.md item 11: only the composition root chooses an adapter.',
      severity: 'error',
      from: { path: '^src/interfaces/', pathNot: '^src/interfaces/composition/' },
      to: { path: '^src/infrastructure/' },
    },
    {
      // Overlaps the rule above for src/infrastructure (such an import is reported by both);
      // it adds that the edge adapters do not reach anything else in src either, e.g. src/main.ts.
      name: 'interfaces-adapters-import-inward-only',
      comment: 'src/interfaces/{cli,graphql,http} import only application, domain, src/interfaces.',
      severity: 'error',
      from: { path: '^src/interfaces/(cli|graphql|http)/' },
      to: { path: '^src/', pathNot: '^src/(application|domain|interfaces)/' },
    },
    {
      name: 'client-library-is-standalone',
      comment: 'client/ runs in browsers and in any application: it uses itself and graphql-ws only (no server code, no node builtin).',
      severity: 'error',
      from: { path: '^client/' },
      to: { pathNot: ['^client/', '(^|/)node_modules/graphql-ws/'] },
    },
    {
      name: 'web-client-uses-the-client-library-only',
      comment: 'DESIGN.md §9: the page uses only the public API, through client/; never server code.',
      severity: 'error',
      from: { path: '^web/' },
      to: { pathNot: ['^web/', '^client/'] },
    },
    {
      name: 'no-circular-in-domain',
      comment: 'Domain modules form a tree; a cycle (type-only ones included) means a missing module boundary.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { circular: true, path: '^src/domain/' },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    // Keeps `import type` and type-only uses, which tsc would erase, so a type from an adapter breaks the rule too.
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|test|bench)/' },
    enhancedResolveOptions: {
      // Resolve packages the way Node does (exports-only packages included), so an allowed
      // package shows up under node_modules/ rather than as an unresolved name.
      exportsFields: ['exports'],
      conditionNames: ['require', 'import', 'node', 'default', 'types'],
    },
  },
};
