// Every scenario of the fault suite, in the order they run.
import type { Scenario } from "../index";
import { CRASH } from "./crash";

export const SCENARIOS: Scenario[] = [...CRASH];
