import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

// Layer boundaries. A later block's no-restricted-imports replaces an earlier one's for the files
// both match, so each block lists every pattern its files are held to.
const TESTS = ["lib/**/*.test.ts", "lib/**/testing/**"];
const noE2e = {
  regex: "^((\\.\\./)+|@/)e2e(/|$)",
  message: "Only tests and testing/ fixtures may use the e2e sandbox.",
};
const noDeploy = {
  regex: "^((\\.\\./)+|@/lib/)deploy(/|$)",
  message: "lib/apt and lib/fleet sit below lib/deploy: they must not import it.",
};

const config = [
  ...nextVitals,
  ...nextTs,
  {
    ignores: ["node_modules/**", ".next/**", "lib/generated/**", "data/**", ".sandbox/**", "test-results/**", "playwright-report/**", "next-env.d.ts"],
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["lib/**/*.ts", "lib/**/*.tsx"],
    ignores: TESTS,
    rules: { "no-restricted-imports": ["error", { patterns: [noE2e] }] },
  },
  {
    files: ["lib/apt/**/*.ts", "lib/fleet/**/*.ts"],
    ignores: TESTS,
    rules: { "no-restricted-imports": ["error", { patterns: [noE2e, noDeploy] }] },
  },
];

export default config;
