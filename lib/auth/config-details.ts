import { can, type Role } from "./permissions";

// A configuration error names files and keys with absolute paths: admins get it in full, others a pointer.
export const CONFIG_PROBLEM_NOTICE = "The configuration has a problem; an admin can see the details.";

export function configProblemFor(role: Role | null | undefined, detail: string): string {
  return can(role, "admin") ? detail : CONFIG_PROBLEM_NOTICE;
}
