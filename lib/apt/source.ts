// Identity of one configured repository source. Pure.
import type { RepositoryConfig } from "../config-schema";

/** One RepositoryState row per source: url + suite + component/architecture + package. */
export function repositorySourceKey(config: Pick<RepositoryConfig, "url" | "suite" | "component" | "architecture" | "package">): string {
  return `${config.url} ${config.suite} ${config.component}/${config.architecture} ${config.package}`;
}
