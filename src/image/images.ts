// Local images: lookup by ID, ID prefix or name; list, tag, untag, remove with
// garbage collection of layers and blobs no image uses any more; inspect and
// history in Podman's shape.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../context.ts";
import { log } from "../context.ts";
import { AmbiguousNameError, NotFoundError, TspodError, UsageError } from "../errors.ts";
import { Store, hexOf, type ImageRecord } from "../storage/store.ts";
import { FileLock } from "../storage/lock.ts";
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from "../sys/libc.ts";
import { parseReference, refString, withDefaultTag, isImageIdLike, type Reference } from "./reference.ts";
import { isIndexType } from "./manifest.ts";

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture?: string;
  os?: string;
  variant?: string;
  config?: Record<string, any>;
  rootfs?: { type: string; diff_ids: string[] };
  history?: { created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }[];
}

/** Who uses an image (containers): set by the container module once it exists. */
export type ImageUsers = (imageId: string) => string[];

/** Short name: "/<repo>:<tag>" at the end of a stored name; docker.io's library/ is optional. */
function shortNameMatcher(ref: Reference, input: string): (name: string) => boolean {
  const tag = ref.tag ?? "latest";
  const repo = ref.repository.startsWith("library/") && !input.includes("library/") ? ref.repository.slice(8) : ref.repository;
  const suffixes = [`/${repo}:${tag}`, `/library/${repo}:${tag}`];
  return (n) => suffixes.some((sfx) => n.endsWith(sfx));
}

/**
 * The digest shown for an image (or one of its names): that of what was pulled,
 * an index when the image came from a multi-platform one, as Podman and skopeo
 * show it. (The platform's manifest is a repo digest too.)
 */
export function shownDigest(i: ImageRecord, name?: string): string {
  const d = (name && i.nameDigests?.[name]) || i.manifest.digest;
  return i.index && d === i.manifest.digest ? i.index.digest : d;
}

/** No name at all, by tag or by digest: what dangling means to Podman (and what image prune removes). */
export function isDangling(i: ImageRecord): boolean {
  return i.names.length === 0 && !i.digestRefs?.length;
}

export class Images {
  readonly store: Store;
  constructor(readonly ctx: Context, readonly users: ImageUsers = () => []) {
    this.store = new Store(ctx);
  }

  list(): ImageRecord[] {
    return this.store.images();
  }

  config(img: ImageRecord): ImageConfig {
    return JSON.parse(new TextDecoder().decode(this.store.readBlob(img.config.digest)));
  }

  /**
   * Find a local image like Podman does: full ID or unique ID prefix, a full
   * name, a name with "latest" added, or a short name matching the end of a
   * stored name (busybox -> 127.0.0.1:5000/busybox:latest) when that is unique.
   */
  lookup(input: string): ImageRecord {
    const found = this.find(input);
    if (!found) throw new NotFoundError(`${input}: image not known`);
    return found;
  }

  find(input: string): ImageRecord | undefined {
    const all = this.list();
    const s = input.startsWith("sha256:") ? input.slice(7) : input;
    const hex = /^[a-f0-9]{1,64}$/.test(s); // any unique prefix, as Podman (even one character)
    // A name wins over an ID prefix (as Podman and Docker look up): `tag X 689c`
    // then `rmi 689c` must untag that name, not delete an image whose ID starts so.
    // A full ID, or sha256:..., is an ID.
    const byId = () => {
      const hits = all.filter((i) => i.id.startsWith(s));
      if (hits.length > 1 && !isImageIdLike(s)) throw new TspodError(`${input}: ambiguous image ID prefix (${hits.length} images)`);
      return hits.length === 1 ? hits[0] : undefined;
    };
    if (hex && (s.length === 64 || s !== input)) return byId();
    let named: ImageRecord | undefined;
    try {
      named = this.findByName(all, input);
    } catch (e) {
      if (!hex) throw e;
    }
    return named ?? (hex ? byId() : undefined);
  }

  private findByName(all: ImageRecord[], input: string): ImageRecord | undefined {
    const ref = parseReference(input);
    if (ref.digest) {
      const byDigest = all.filter((i) => i.repoDigests.some((d) => d.endsWith(`@${ref.digest}`) && (!ref.fullyQualified || d === `${ref.registry}/${ref.repository}@${ref.digest}`)));
      if (byDigest.length) return byDigest[0];
      if (!ref.tag) return undefined;
    }
    const full = refString(withDefaultTag({ ...ref, digest: undefined }));
    const exact = all.find((i) => i.names.includes(full));
    if (exact) return exact;
    if (ref.fullyQualified) return undefined;
    const matches = shortNameMatcher(ref, input);
    const hits = all.filter((i) => i.names.some(matches));
    if (hits.length === 1) return hits[0];
    if (hits.length > 1) {
      // As Podman resolves it: localhost/NAME first, then the search registries in their order
      const { loadRegistriesConf, resolveShortName } = require("./registries.ts") as typeof import("./registries.ts");
      let candidates: string[] = [];
      try {
        candidates = resolveShortName(input, loadRegistriesConf()).map((r) => refString(withDefaultTag({ ...r, digest: undefined })));
      } catch {}
      // the name a local tag of this input has (normaliseTag: a typed library/ kept)
      let local: string[] = [];
      try {
        local = [this.normaliseTag(input)];
      } catch {}
      for (const c of [...local, ...candidates]) {
        const hit = hits.find((h) => h.names.includes(c));
        if (hit) return hit;
      }
      const matching = hits.flatMap((h) => h.names.filter(matches));
      throw new AmbiguousNameError(`${input}: short name matches several images (${matching.join(", ")}): use the full name`);
    }
    return undefined;
  }

  /**
   * The name of image that input (which found it) stands for: the stored name
   * it matched, the repo digest it gave, else the first name (an ID was given).
   * What a container records as its image, as Podman does.
   */
  nameFor(image: ImageRecord, input: string): string {
    const fallback = image.names[0] ?? image.id;
    let ref: Reference;
    try {
      ref = parseReference(input);
    } catch {
      return fallback;
    }
    if (ref.digest) return image.repoDigests.find((d) => d.endsWith(`@${ref.digest}`) && (!ref.fullyQualified || d.startsWith(`${ref.registry}/${ref.repository}@`))) ?? fallback;
    const full = refString(withDefaultTag(ref));
    if (image.names.includes(full)) return full;
    return image.names.find(shortNameMatcher(ref, input)) ?? fallback;
  }

  /** Normalise a name to store as a tag: short names become localhost/NAME like Podman's tag. */
  normaliseTag(name: string): string {
    const ref = parseReference(name);
    if (ref.digest) throw new UsageError(`${name}: a tag cannot contain a digest`);
    // docker.io's implied library/ is not part of a local name; one the user typed is
    const typedLibrary = name.startsWith("library/");
    const r = ref.fullyQualified ? ref : { ...ref, registry: "localhost", repository: typedLibrary ? ref.repository : ref.repository.replace(/^library\//, "") };
    return refString(withDefaultTag(r));
  }

  /**
   * Add names. Each new name comes with the manifest of what it was made from
   * (the source name's, or the digest given), so a push of it sends that one.
   */
  tag(input: string, names: string[]): void {
    const img = this.lookup(input);
    const add = names.map((n) => this.normaliseTag(n));
    const digest = this.manifestFor(img, input);
    this.store.updateImage(img.id, (r) => ({ ...r, names: [...new Set([...r.names, ...add])], nameDigests: { ...(r.nameDigests ?? {}), ...Object.fromEntries(add.map((n) => [n, digest])) } }));
  }

  /** Remove names; with none given, all of them. */
  untag(input: string, names: string[]): string[] {
    const img = this.lookup(input);
    let drop: string[];
    if (!names.length) drop = img.names;
    else {
      drop = names.map((n) => {
        const full = this.matchName(img, n);
        if (!full) throw new NotFoundError(`${n}: tag not known for image ${img.id.slice(0, 12)}`);
        return full;
      });
    }
    this.store.updateImage(img.id, (r) => ({ ...r, names: r.names.filter((n) => !drop.includes(n)), ...(names.length ? {} : { digestRefs: [] }) }));
    return drop;
  }

  /** The name pulled by digest (REPO@sha256:...) that n gives, short or in full. */
  private matchDigestRef(img: ImageRecord, n: string): string | undefined {
    let ref: Reference;
    try {
      ref = parseReference(n);
    } catch {
      return undefined;
    }
    if (!ref.digest || !img.digestRefs?.length) return undefined;
    const full = `${ref.registry}/${ref.repository}@${ref.digest}`;
    return img.digestRefs.find((d) => d === full || (!ref.fullyQualified && d.endsWith(`/${n.replace(/^library\//, "")}`)));
  }

  /**
   * The digest of the manifest input stands for: the one NAME@DIGEST names (an
   * image manifest of this image: an index's digest means the platform pulled
   * through it), else the one the name was pulled or tagged with, else the one
   * pulled last (an ID). name: the stored name input stands for, when known.
   */
  manifestFor(img: ImageRecord, input: string, name = this.matchName(img, input)): string {
    let asked: string | undefined;
    try {
      asked = parseReference(input).digest;
    } catch {}
    const byDigest = asked ? img.manifests?.find((m) => m.digest === asked && !isIndexType(m.mediaType)) : undefined;
    return byDigest?.digest || (name && img.nameDigests?.[name]) || img.manifest.digest;
  }

  /** The stored name n stands for (short or in full), or undefined. */
  matchName(img: ImageRecord, n: string): string | undefined {
    return this.namesMatching(img, n)[0];
  }

  /** Every stored name n can stand for: the full name, or those a short name ends. */
  namesMatching(img: ImageRecord, n: string): string[] {
    let want: string;
    try {
      want = refString(withDefaultTag(parseReference(n)));
    } catch {
      return [];
    }
    if (img.names.includes(want)) return [want];
    const short = n.includes(":") ? n : `${n}:latest`;
    return img.names.filter((x) => x.endsWith(`/${short}`) || x.endsWith(`/library/${short}`));
  }

  /**
   * rmi. By name with several names: untag that name only. By ID with several
   * names: refused unless force. Images containers use: refused, unless
   * removeUsers is given (rmi -f), which removes those containers first, as
   * Podman's rmi --force does.
   */
  async remove(
    inputs: string[],
    force: boolean,
    removeUsers?: (containerIds: string[]) => Promise<void>,
    ignoreMissing = force,
  ): Promise<{ untagged: string[]; deleted: string[]; errors: TspodError[] }> {
    const untagged: string[] = [];
    const deleted: string[] = [];
    const errors: TspodError[] = [];
    const seen = new Set<string>();
    // Like Podman: every name is tried; the failures are reported after the rest is done
    // (exit 1 for an unknown image, 2 for one in use); -f ignores unknown images.
    for (const input of inputs) {
      let img: ImageRecord;
      try {
        img = this.lookup(input);
      } catch (e) {
        if (e instanceof NotFoundError) {
          if (!ignoreMissing) errors.push(new TspodError(e.message, 1));
          continue;
        }
        throw e;
      }
      if (seen.has(img.id)) continue;
      // a name pulled by digest counts as one (Podman keeps the image when another tag goes)
      const byName = !img.id.startsWith(input.replace(/^sha256:/, "")) && img.names.length + (img.digestRefs?.length ?? 0) > 1;
      if (byName) {
        // REPO@DIGEST it was pulled by: that name goes, the tags stay (as Podman)
        const d = this.matchDigestRef(img, input);
        if (d) {
          this.store.updateImage(img.id, (r) => ({ ...r, digestRefs: (r.digestRefs ?? []).filter((x) => x !== d) }));
          untagged.push(d);
          continue;
        }
        const n = this.matchName(img, input);
        if (n) {
          this.store.updateImage(img.id, (r) => ({ ...r, names: r.names.filter((x) => x !== n) }));
          untagged.push(n);
          continue;
        }
      }
      if (img.names.length > 1 && !force) {
        errors.push(new TspodError(`unable to delete image "${img.id}" by ID with more than one tag (${img.names.join(", ")}): please force removal`));
        continue;
      }
      let users = this.users(img.id);
      if (users.length && removeUsers) {
        try {
          await removeUsers(users);
        } catch (e) {
          errors.push(e instanceof TspodError ? e : new TspodError(String((e as Error)?.message ?? e)));
          continue;
        }
        users = this.users(img.id);
      }
      if (users.length) {
        errors.push(new TspodError(`image ${img.id.slice(0, 12)} is in use by container${users.length > 1 ? "s" : ""} ${users.map((u) => u.slice(0, 12)).join(", ")}: remove ${users.length > 1 ? "them" : "it"} first`, 2));
        continue;
      }
      seen.add(img.id);
      this.store.deleteImageRecord(img.id);
      untagged.push(...img.names, ...(img.digestRefs ?? []));
      deleted.push(img.id);
    }
    if (deleted.length || this.store.gcPending()) this.collectGarbage();
    return { untagged, deleted, errors };
  }

  /**
   * Remove layers and blobs no image record refers to. While a pull runs (it
   * holds gc.lock shared) this is put off: a marker says so, and the pull
   * that ends last does it (Puller.holdingLayers), or the next rmi or prune.
   * The marker is written before the lock is tried and removed under it, so a
   * pull that ends in between still finds it.
   */
  collectGarbage(): { layers: number; blobs: number } {
    const gc = new FileLock(this.store.gcLockPath());
    try {
      this.store.setGcPending(true);
      if (!flock((gc as any).fd, LOCK_EX | LOCK_NB)) {
        log("debug", "a pull is running: garbage collection postponed to its end");
        return { layers: 0, blobs: 0 };
      }
      this.store.setGcPending(false);
      this.store.cleanTemp(); // what interrupted pulls (or dead monitors) left in tmp/ goes too
      const keepLayers = new Set<string>();
      const keepBlobs = new Set<string>();
      for (const i of this.list()) {
        keepBlobs.add(hexOf(i.manifest.digest));
        // Every manifest the image was pulled with (one per name, say a gzip and a zstd
        // variant of the same config) keeps the blobs it names: each name can be
        // pushed back byte-identical, not only the one pulled last.
        for (const m of i.manifests ?? []) {
          keepBlobs.add(hexOf(m.digest));
          for (const d of this.blobsOfManifest(m.digest)) keepBlobs.add(hexOf(d));
        }
        keepBlobs.add(hexOf(i.config.digest));
        if (i.index) keepBlobs.add(hexOf(i.index.digest));
        for (const l of i.layers) {
          keepBlobs.add(hexOf(l.digest));
          keepLayers.add(hexOf(l.diffID));
        }
      }
      for (const extra of this.extraLayerUsers()) keepLayers.add(extra);
      const layersDir = join(this.store.root, "layers");
      const dropLayers = readdirSync(layersDir).filter((n) => !keepLayers.has(n) && !n.startsWith("."));
      if (dropLayers.length) this.store.removeLayerDirs(dropLayers);
      const blobsDir = join(this.store.root, "blobs/sha256");
      let blobs = 0;
      for (const n of readdirSync(blobsDir)) {
        if (keepBlobs.has(n) || n.startsWith(".")) continue;
        rmSync(join(blobsDir, n), { force: true });
        blobs++;
      }
      return { layers: dropLayers.length, blobs };
    } finally {
      try {
        flock((gc as any).fd, LOCK_UN);
      } catch {}
      gc.close();
    }
  }

  /** The config and layer digests a stored image manifest names ([] for an index or a missing blob). */
  private blobsOfManifest(digest: string): string[] {
    try {
      const m = JSON.parse(new TextDecoder().decode(this.store.readBlob(digest)));
      return [m.config?.digest, ...(Array.isArray(m.layers) ? m.layers.map((l: any) => l?.digest) : [])].filter((d): d is string => typeof d === "string" && /^sha256:[a-f0-9]{64}$/.test(d));
    } catch {
      return [];
    }
  }

  /** Layers kept alive by something other than image records (containers' parents come later). */
  protected extraLayerUsers(): string[] {
    return [];
  }

  /** image prune: dangling images (no names) unused by containers; with all, every unused image; only those `only` keeps (its filters). */
  prune(all: boolean, only: (img: ImageRecord) => boolean = () => true): string[] {
    const victims = this.list().filter((i) => (all || isDangling(i)) && this.users(i.id).length === 0 && only(i));
    for (const v of victims) this.store.deleteImageRecord(v.id);
    if (victims.length || this.store.gcPending()) this.collectGarbage();
    return victims.map((v) => v.id);
  }

  /** image exists: a reference that is not one is an error (125, as Podman), not a "no". */
  exists(input: string): boolean {
    try {
      return this.find(input) !== undefined;
    } catch (e) {
      if (e instanceof UsageError) throw e;
      return e instanceof AmbiguousNameError; // it exists, under several names
    }
  }

  inspect(img: ImageRecord) {
    const cfg = this.config(img);
    // Go writes a map's keys sorted (labels, ports, volumes, annotations): so does Podman's inspect
    const sorted = <T>(m: T): T => (m && typeof m === "object" && !Array.isArray(m) ? (Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) as T) : m);
    const config = cfg.config ? { ...cfg.config } : {};
    for (const k of ["Labels", "ExposedPorts", "Volumes"] as const) if ((config as any)[k]) (config as any)[k] = sorted((config as any)[k]);
    const layerDirs = img.layers.map((l) => this.store.diffPath(l.diffID)).filter((p) => existsSync(p));
    return {
      Id: img.id,
      Digest: shownDigest(img),
      RepoTags: img.names,
      RepoDigests: img.repoDigests,
      Parent: img.parent ?? "",
      Comment: (cfg as { comment?: string }).comment ?? "", // the config's (docker commit -m), as Podman shows it
      Created: cfg.created ?? img.created,
      Config: config,
      Version: "",
      Author: cfg.author ?? "",
      Architecture: cfg.architecture ?? img.architecture,
      Os: cfg.os ?? img.os,
      ...(cfg.variant ? { Variant: cfg.variant } : {}),
      Size: img.size,
      VirtualSize: img.size,
      GraphDriver: {
        Name: "overlay",
        Data: {
          LowerDir: layerDirs.slice(0, -1).reverse().join(":"),
          UpperDir: layerDirs[layerDirs.length - 1] ?? "",
        },
      },
      RootFS: { Type: "layers", Layers: cfg.rootfs?.diff_ids ?? img.layers.map((l) => l.diffID) },
      Labels: (config as { Labels?: Record<string, string> }).Labels ?? null,
      Annotations: sorted(this.manifestAnnotations(img)),
      ManifestType: img.manifest.mediaType,
      User: cfg.config?.User ?? "",
      History: cfg.history ?? [],
      // the latest first, as Podman lists them; a pull by digest (no tag) is one too
      NamesHistory: [...img.names, ...(img.digestRefs ?? [])].reverse(),
    };
  }

  /** The annotations of the manifest the image was pulled with (none when it is gone or has none). */
  private manifestAnnotations(img: ImageRecord): Record<string, string> {
    try {
      return JSON.parse(new TextDecoder().decode(this.store.readBlob(img.manifest.digest))).annotations ?? {};
    } catch {
      return {};
    }
  }

  /** One row per history entry, newest first, with the layer size for non-empty entries. */
  history(img: ImageRecord) {
    const cfg = this.config(img);
    const hist = cfg.history?.length ? cfg.history : img.layers.map(() => ({}) as NonNullable<ImageConfig["history"]>[number]);
    const rows: { ID: string; Created: string; CreatedBy: string; Size: number; Comment: string }[] = [];
    // the entry an image ends with shows its ID: this one's last, and the last of each
    // image it was committed from that is still here (as Podman shows them)
    const ids = new Map<number, string>([[hist.length - 1, img.id]]);
    const seen = new Set([img.id]);
    for (let p = img.parent ? this.store.image(img.parent) : undefined; p && !seen.has(p.id); p = p.parent ? this.store.image(p.parent) : undefined) {
      seen.add(p.id);
      let n = 0;
      try {
        n = this.config(p).history?.length || p.layers.length;
      } catch {}
      if (n > 0 && n <= hist.length && !ids.has(n - 1)) ids.set(n - 1, p.id);
    }
    let li = 0;
    hist.forEach((h, i) => {
      const layer = h.empty_layer ? undefined : img.layers[li++];
      rows.push({
        ID: ids.get(i) ?? "<missing>",
        Created: h.created ?? cfg.created ?? "",
        CreatedBy: h.created_by ?? "",
        Size: layer ? (this.store.layer(layer.diffID)?.size ?? 0) : 0,
        Comment: h.comment ?? "",
      });
    });
    return rows.reverse();
  }
}

// display helpers live in cli/human.ts (ps loads them without the image modules)
export { since, humanSize, splitName } from "../cli/human.ts";
