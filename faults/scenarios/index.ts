// Every scenario of the fault suite, in the order they run.
import type { Scenario } from "../index";
import { CRASH } from "./crash";
import { HOSTS_FAILING } from "./hosts";
import { REPOSITORY } from "./repository";
import { STORAGE } from "./storage";
import { CONCURRENCY } from "./concurrency";
import { HOSTILE } from "./hostile";
import { SECURITY } from "./security";
import { LOAD } from "./load";

export const SCENARIOS: Scenario[] = [...CRASH, ...HOSTS_FAILING, ...REPOSITORY, ...STORAGE, ...CONCURRENCY, ...HOSTILE, ...SECURITY, ...LOAD];
