// Every scenario of the fault suite, in the order they run.
import type { Scenario } from "../index";
import { CRASH } from "./crash";
import { HOSTS_FAILING } from "./hosts";
import { REPOSITORY } from "./repository";

export const SCENARIOS: Scenario[] = [...CRASH, ...HOSTS_FAILING, ...REPOSITORY];
