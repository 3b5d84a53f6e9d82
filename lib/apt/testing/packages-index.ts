// Synthetic Packages indexes for tests and the benchmark: realistic stanzas, deterministic content.
import { createHash } from "node:crypto";

export interface FakeBuild {
  package: string;
  version: string;
  architecture?: string;
  filename?: string;
  size?: number;
  sha256?: string;
  description?: string;
}

const WORDS = "the of and to in is for on with as by at from that this be are it an or which apt package library tool data file system support server client module plugin development files runtime documentation utilities".split(" ");

function lorem(seed: number, words: number): string {
  let s = "";
  let x = seed >>> 0;
  for (let i = 0; i < words; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s += (i ? " " : "") + WORDS[x % WORDS.length];
  }
  return s;
}

/** One stanza as apt-ftparchive writes it, ending in a blank line. */
export function stanza(b: FakeBuild): string {
  const arch = b.architecture ?? "all";
  const filename = b.filename ?? `pool/main/${b.package[0]}/${b.package}/${b.package}_${b.version.replace(/^\d+:/, "")}_${arch}.deb`;
  const sha256 = b.sha256 ?? createHash("sha256").update(`${b.package} ${b.version} ${arch}`).digest("hex");
  const md5 = sha256.slice(0, 32);
  return (
    `Package: ${b.package}\n` +
    `Version: ${b.version}\n` +
    `Architecture: ${arch}\n` +
    `Maintainer: Release Engineering <releng@example.org>\n` +
    `Installed-Size: ${(b.size ?? 1000) >> 8}\n` +
    `Depends: python3 (>= 3.9), python3-yaml, git, rsync\n` +
    `Filename: ${filename}\n` +
    `Size: ${b.size ?? 1000}\n` +
    `MD5sum: ${md5}\n` +
    `SHA256: ${sha256}\n` +
    `Section: admin\n` +
    `Priority: optional\n` +
    `Description: ${b.description ?? `${b.package} test package`}\n` +
    ` This is a test package.\n .\n It has an extended description.\n\n`
  );
}

/**
 * A Packages index of about `targetBytes` holding `count` stanzas of filler packages, with `builds`
 * spread through it (never first or last, so the scan has to find them).
 */
export function* packagesIndexChunks(count: number, builds: FakeBuild[], targetBytes = count * 850): Generator<string> {
  const fillerWords = Math.max(4, Math.round((targetBytes / count - 640) / 6.2));
  const every = Math.max(1, Math.floor(count / (builds.length + 1)));
  let next = 0;
  let chunk = "";
  for (let i = 0; i < count; i++) {
    if (next < builds.length && i === every * (next + 1)) chunk += stanza(builds[next++]!);
    const name = `lib${lorem(i, 1)}-${i.toString(36)}`;
    const desc = lorem(i * 7 + 1, 6);
    chunk +=
      `Package: ${name}\n` +
      `Source: ${name.replace(/^lib/, "")}\n` +
      `Version: ${1 + (i % 7)}.${i % 13}.${i % 5}-${1 + (i % 3)}\n` +
      `Installed-Size: ${100 + (i % 9000)}\n` +
      `Maintainer: Debian Developers <debian-devel@lists.example.org>\n` +
      `Architecture: ${i % 4 === 0 ? "all" : "amd64"}\n` +
      `Depends: libc6 (>= 2.34), libgcc-s1 (>= 3.0), libstdc++6 (>= 12)\n` +
      `Description: ${desc}\n` +
      ` ${lorem(i * 13 + 5, fillerWords)}\n .\n ${lorem(i * 17 + 3, 12)}\n` +
      `Homepage: https://example.org/${name}\n` +
      `Description-md5: ${createHash("md5").update(desc).digest("hex")}\n` +
      `Tag: devel::library, role::shared-lib\n` +
      `Section: libs\n` +
      `Priority: optional\n` +
      `Filename: pool/main/${name[0]}/${name}/${name}_1.0-1_amd64.deb\n` +
      `Size: ${10000 + i}\n` +
      `MD5sum: ${createHash("md5").update(name).digest("hex")}\n` +
      `SHA256: ${createHash("sha256").update(name).digest("hex")}\n\n`;
    if (chunk.length >= 1 << 20) {
      yield chunk;
      chunk = "";
    }
  }
  while (next < builds.length) chunk += stanza(builds[next++]!);
  if (chunk) yield chunk;
}

export function packagesIndex(count: number, builds: FakeBuild[], targetBytes?: number): string {
  return [...packagesIndexChunks(count, builds, targetBytes)].join("");
}
