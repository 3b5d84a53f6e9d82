import { Notice } from "./ui";

/** What every page shows while no configuration file is named. */
export function NotConfigured() {
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
