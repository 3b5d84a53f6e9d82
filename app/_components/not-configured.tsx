import type { ConfigState } from "@/lib/config";
import { Notice } from "./ui";

/** What a page shows in place of its data while there is no usable configuration. */
export function NotConfigured({ state }: { state: ConfigState }) {
  if (state.status === "invalid") {
    return (
      <Notice tone="slate" title="Waiting for a valid configuration">
        <p>
          The file named by <code className="mono">SCAP_CHANNELS_CONFIG</code> does not validate (see above). This page fills in once it does; the
          file is re-read when it changes.
        </p>
      </Notice>
    );
  }
  return (
    <Notice tone="slate" title="No configuration yet">
      <p>
        Scap Channels reads its repository, SSH settings, hosts and channels from one YAML file. Name it with{" "}
        <code className="mono">SCAP_CHANNELS_CONFIG=/path/to/config.yaml</code> and restart. The README&apos;s
        &quot;Configuration&quot; section lists every key; <code className="mono">npm run demo</code> starts a sandbox beta
        cluster with a ready-made config.
      </p>
    </Notice>
  );
}
