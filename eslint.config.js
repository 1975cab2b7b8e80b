// ESLint flat config for jobledger.
//
// - TypeScript (`**/*.ts`): typescript-eslint `recommendedTypeChecked`, type
//   information from the project service (tsconfig.json covers src, migrations,
//   bench and test/support/fixtures).
// - Test files and vitest.config.ts are not in tsconfig.json, so they are
//   type-checked through tsconfig.eslint.json (tsconfig.json + test/ +
//   vitest.config.ts, noEmit) instead of the project service.
// - JavaScript: only this file and bin/*.js are linted, with @eslint/js
//   `recommended` and Node globals, without type information; and the console's
//   UI (console-assets/), with browser globals and no innerHTML.
import js from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import tseslint from "typescript-eslint";

// Node.js globals available in ES modules (no require/module/exports/__dirname),
// listed here rather than importing the `globals` package, which is not a
// direct dependency of this project.
const nodeEsmGlobals = Object.fromEntries(
  [
    "AbortController", "AbortSignal", "atob", "Blob", "BroadcastChannel", "btoa",
    "Buffer", "clearImmediate", "clearInterval", "clearTimeout", "console",
    "crypto", "CustomEvent", "DOMException", "Event", "EventTarget", "fetch",
    "File", "FormData", "global", "Headers", "MessageChannel", "MessageEvent",
    "MessagePort", "performance", "process", "queueMicrotask", "ReadableStream",
    "Request", "Response", "setImmediate", "setInterval", "setTimeout",
    "structuredClone", "TextDecoder", "TextEncoder", "TransformStream", "URL",
    "URLSearchParams", "WebAssembly", "WritableStream",
  ].map((name) => [name, "readonly"]),
);

const unusedVarsOptions = {
  args: "after-used",
  argsIgnorePattern: "^_",
  varsIgnorePattern: "^_",
  caughtErrorsIgnorePattern: "^_",
  destructuredArrayIgnorePattern: "^_",
  ignoreRestSiblings: true,
};

// The dependency rule (docs/architecture.md). ESLint matches import strings, not resolved paths,
// so each rule is written per folder depth.
const restrict = (...patterns) => ["error", { patterns }];
const outsideStore = (up) => ({
  group: [`${up}store/**`, `!${up}store/index.js`, `!${up}store/vocabulary.js`],
  message: "Outside src/store, reach the database only through src/store/index.ts (the Ledger and its contract); src/store/vocabulary.ts holds the names option parsing needs without the ORM.",
});
const noDemo = (up) => ({ group: [`${up}demo/**`], message: "The demo is loaded only by `jobledger demo`, never by the library." });
const storeIsALeaf = (up) => ({
  group: ["jobs", "workers", "cli", "transport", "demo", "observability"].map((dir) => `${up}${dir}/**`),
  message: "src/store imports nothing from jobs, workers, cli, transport, demo or observability.",
});
const observabilityBelowWorkers = {
  group: ["../jobs/**", "../workers/**", "../cli/**"],
  message: "src/observability imports nothing from jobs, workers or cli: the workers report to it.",
};
const consoleBelowWorkers = {
  group: ["../workers/**", "../cli/**"],
  message: "src/console imports nothing from workers or cli: it reads the ledger and runs the operator actions.",
};
const jobsBelowWorkers = { group: ["../workers/**", "../cli/**"], message: "src/jobs imports nothing from workers or cli." };
const leafModules = {
  group: ["./*/**"],
  message: "config, errors and logger import nothing of the project beyond the leaf modules beside them.",
};
const layerRules = [
  { files: ["src/*.ts"], rules: { "no-restricted-imports": restrict(outsideStore("./"), noDemo("./")) } },
  {
    files: ["src/config.ts", "src/config-*.ts", "src/errors.ts", "src/errors-*.ts", "src/logger.ts"],
    rules: { "no-restricted-imports": restrict(outsideStore("./"), noDemo("./"), leafModules) },
  },
  { files: ["src/jobs/*.ts"], rules: { "no-restricted-imports": restrict(outsideStore("../"), noDemo("../"), jobsBelowWorkers) } },
  {
    files: ["src/hot-state/*.ts"],
    rules: { "no-restricted-imports": restrict(outsideStore("../"), noDemo("../"), { ...jobsBelowWorkers, message: "src/hot-state imports nothing from workers or cli." }) },
  },
  { files: ["src/workers/*.ts", "src/transport/*.ts"], rules: { "no-restricted-imports": restrict(outsideStore("../"), noDemo("../")) } },
  { files: ["src/observability/*.ts"], rules: { "no-restricted-imports": restrict(outsideStore("../"), noDemo("../"), observabilityBelowWorkers) } },
  { files: ["src/console/*.ts"], rules: { "no-restricted-imports": restrict(outsideStore("../"), noDemo("../"), consoleBelowWorkers) } },
  { files: ["src/cli/*.ts", "src/demo/*.ts"], rules: { "no-restricted-imports": restrict(outsideStore("../")) } },
  { files: ["src/workers/*/*.ts"], rules: { "no-restricted-imports": restrict(outsideStore("../../"), noDemo("../../")) } },
  { files: ["src/cli/*/*.ts"], rules: { "no-restricted-imports": restrict(outsideStore("../../")) } },
  { files: ["src/store/*.ts"], rules: { "no-restricted-imports": restrict(storeIsALeaf("../")) } },
  { files: ["src/store/*/*.ts"], rules: { "no-restricted-imports": restrict(storeIsALeaf("../../")) } },
  { files: ["src/store/*/*/*.ts"], rules: { "no-restricted-imports": restrict(storeIsALeaf("../../../")) } },
];

export default defineConfig([
  globalIgnores([
    "dist/",
    "node_modules/",
    "data/",
    "coverage/",
    // The examples are checked by their own install and type-check (test/examples.test.ts).
    "examples/",
    ".vitest-tmp/",
    // JavaScript is linted only for this file and the CLI entry points.
    "**/*.js",
    "**/*.cjs",
    "**/*.mjs",
    "!eslint.config.js",
    "!bin/*.js",
    "!console-assets/**/*.js",
  ]),

  // Plain JavaScript: no type information.
  {
    files: ["eslint.config.js", "bin/*.js"],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module",
      globals: nodeEsmGlobals,
    },
    rules: {
      "no-unused-vars": ["error", unusedVarsOptions],
    },
  },

  // The console's UI: plain ES modules run by the browser.
  {
    files: ["console-assets/**/*.js"],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module",
      globals: Object.fromEntries(
        ["console", "document", "window", "location", "history", "fetch", "URLSearchParams", "FormData", "Node", "setInterval", "clearInterval", "setTimeout"].map((name) => [name, "readonly"]),
      ),
    },
    rules: {
      "no-unused-vars": ["error", unusedVarsOptions],
      // Data reaches the page as text only (console-assets/dom.js).
      "no-restricted-properties": ["error", { property: "innerHTML" }, { property: "outerHTML" }, { property: "insertAdjacentHTML" }],
    },
  },

  // TypeScript: type-aware linting.
  {
    files: ["**/*.ts"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", unusedVarsOptions],
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true, allowBoolean: true },
      ],
      // Explicitly errors (they already are in recommendedTypeChecked).
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
    },
  },

  // Tests and vitest config: not part of tsconfig.json, so the project service
  // would report "was not found by the project service". Use the ESLint-only
  // tsconfig that includes them.
  {
    files: ["test/**/*.ts", "vitest.config.ts"],
    languageOptions: {
      parserOptions: {
        projectService: false,
        project: "./tsconfig.eslint.json",
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },

  // Test-only relaxations: mocks, spies and expect() matchers are loosely typed.
  {
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/unbound-method": "off",
    },
  },

  ...layerRules,
]);
