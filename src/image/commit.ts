// commit: a container's changes as one new layer on top of its image, and an
// image of them (what `docker commit` and `podman commit` make).
//
// The layer is the tar `tspod-rt diff-tar` writes in the container's user
// namespace (overlay: the upper directory; vfs: the copy compared with the
// image's layers), gzipped there on every CPU into a temp file, with the
// digests of both (the tar's is the diff id, the gzip's the blob's). The blob goes into the store and is then
// unpacked like a pulled one (which checks the diff id again), so a container
// of the new image shares that layer like any other. The config is the
// image's with the container's settings (command, entrypoint, user, working
// directory, its own -e variables, labels, ports) and the --change
// instructions, one history entry more; the manifest is OCI unless Docker's
// format is asked for. Blobs and the layer are written to temp names and
// renamed; the image record is saved last, so a commit that fails or is
// killed leaves no image behind (and cleanTemp removes its temp files).
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../context.ts";
import { trace } from "../context.ts";
import { NotFoundError, TspodError } from "../errors.ts";
import { Store, hexOf, type Descriptor, type ImageRecord } from "../storage/store.ts";
import { helperPath } from "../sys/native.ts";
import { mapArgs } from "../sys/idmap.ts";
import { ContainerStore, DEFAULT_PATH, userMounts, type Container } from "../container/record.ts";
import { Images, type ImageConfig } from "./images.ts";
import { envKey, parseChanges, type RunConfig } from "./changes.ts";
import { holdingBlobs, onInterrupt } from "./hold.ts";
import { descriptor, mediaTypeIn, type ManifestFormat } from "./push.ts";
import { MEDIA_DOCKER_MANIFEST, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_MANIFEST, sha256Digest } from "./manifest.ts";
import { parseReference, refName } from "./reference.ts";
import type { PullEvent } from "./pull.ts";

export interface CommitOptions {
  /** the new image's name (a short one becomes localhost/NAME:latest); none: a dangling image */
  name?: string;
  author?: string;
  message?: string;
  /** --change instructions */
  changes?: string[];
  /** pause a running container while its changes are read */
  pause?: boolean;
  format?: ManifestFormat;
  /** the container's volumes become the image's VOLUMEs */
  includeVolumes?: boolean;
  onEvent?: (e: PullEvent) => void;
}

/**
 * The image config's Env for a commit: the image's, with what the user gave
 * the container (-e, --env-file). A container made before tspod recorded that
 * gives its whole environment less what tspod sets itself (its HOME, HOSTNAME,
 * TERM, container= and default PATH: the image's own values stay).
 */
function committedEnv(c: Container, imageEnv: string[]): string[] {
  const added = c.config.userEnv ?? c.config.env.filter((e) => !["container", "HOSTNAME", "HOME", "TERM"].includes(envKey(e)) && e !== DEFAULT_PATH);
  const m = new Map<string, string>(); // (a variable set again keeps its place, as with Docker's ENV)
  for (const e of [...imageEnv, ...added]) m.set(envKey(e), e);
  return [...m.values()];
}

/** The image's run config with the container's settings, as Docker's commit merges them. */
export function committedRunConfig(c: Container, image: RunConfig | undefined, includeVolumes: boolean): RunConfig {
  const rc: RunConfig = { ...(image ?? {}) };
  const cfg = c.config;
  rc.Env = committedEnv(c, image?.Env ?? []);
  if (cfg.entrypoint.length) rc.Entrypoint = cfg.entrypoint;
  else delete rc.Entrypoint;
  if (cfg.cmd.length) rc.Cmd = cfg.cmd;
  else delete rc.Cmd;
  if (cfg.user) rc.User = cfg.user;
  if (cfg.workdir && (cfg.workdir !== "/" || rc.WorkingDir)) rc.WorkingDir = cfg.workdir;
  if (Object.keys(cfg.labels ?? {}).length) rc.Labels = { ...(rc.Labels ?? {}), ...cfg.labels };
  const ports = [...(cfg.exposedPorts ?? []), ...(cfg.ports ?? []).flatMap((p) => Array.from({ length: Math.max(1, p.range || 1) }, (_, i) => `${p.containerPort + i}/${p.protocol}`))];
  if (ports.length) {
    rc.ExposedPorts = { ...(rc.ExposedPorts ?? {}) };
    for (const p of ports) rc.ExposedPorts[p.includes("/") ? p : `${p}/tcp`] = {};
  }
  if (cfg.stopSignal && (rc.StopSignal || cfg.stopSignal !== "SIGTERM")) rc.StopSignal = cfg.stopSignal;
  if (includeVolumes) {
    const vols = userMounts(c).filter((m) => m.volume || m.anonymous);
    if (vols.length) {
      rc.Volumes = { ...(rc.Volumes ?? {}) };
      for (const m of vols) rc.Volumes[m.destination] = {};
    }
  }
  return rc;
}

export class Committer {
  private store: Store;
  private images: Images;
  constructor(private ctx: Context) {
    this.store = new Store(ctx);
    this.images = new Images(ctx);
  }

  async commit(input: string, opts: CommitOptions = {}): Promise<ImageRecord> {
    // everything that can be refused, before any work
    const c = new ContainerStore(this.ctx).find(input);
    if (!c) throw new NotFoundError(`no container with name or ID "${input}" found: no such container`);
    if (c.config.infra) throw new TspodError(`${c.config.name} is a pod's infra container: it has nothing to commit`);
    const name = opts.name !== undefined ? this.images.normaliseTag(opts.name) : undefined;
    const changes = parseChanges(opts.changes ?? []);
    const format = opts.format ?? "oci";
    const base = this.store.image(c.config.image.id);
    if (!base) throw new TspodError(`the image of container ${c.config.name} (${c.config.image.id.slice(0, 12)}) is not in the store`);
    const baseConfig = this.images.config(base);
    const layerTypes = base.layers.map((l, i) => {
      const t = mediaTypeIn(l.mediaType, format);
      if (!t) throw new TspodError(`cannot commit in ${format === "oci" ? "OCI" : "Docker's"} format: layer ${i + 1} of the image is ${l.mediaType}, which it has no type for`);
      return t;
    });
    // the run config now: a --change that fails with the variables it expands fails here
    const rc = committedRunConfig(c, baseConfig.config, opts.includeVolumes ?? false);
    for (const ch of changes) ch(rc);

    this.store.cleanTemp();
    // Blobs and layers stay while the commit runs: an rmi (or rmi -f of the
    // image, which takes its containers too) meanwhile puts its collection off
    // until this ends, when whatever a failed commit stored goes too.
    return holdingBlobs(this.ctx, this.store, () => this.run(c, base, baseConfig, rc, layerTypes, name, format, opts));
  }

  private async run(c: Container, base: ImageRecord, baseConfig: ImageConfig, rc: RunConfig, layerTypes: string[], name: string | undefined, format: ManifestFormat, opts: CommitOptions): Promise<ImageRecord> {
    const { Lifecycle } = await import("../container/lifecycle.ts");
    const life = new Lifecycle(this.ctx);
    const paused = opts.pause && c.state.status === "running";
    const unpause = async () => {
      const now = new ContainerStore(this.ctx).load(c.config.id);
      if (now?.state.status === "paused") await life.unpause(now);
    };
    // a signal meanwhile: the helper killed, the container running again, the temp files gone
    let pausedNow = false;
    const stop = onInterrupt(this.store, async () => {
      this.helper?.kill("SIGKILL");
      if (pausedNow) await unpause();
    });
    try {
      if (paused) {
        await life.pause(c);
        pausedNow = true;
      }
      let layer: { digest: string; diffID: string; size: number; tmp: string };
      try {
        trace("commit: reading the changes");
        layer = await this.diffLayer(c, base);
        trace("commit: layer written");
      } finally {
        if (pausedNow) {
          pausedNow = false;
          await unpause();
        }
      }
      // removed meanwhile (rm, rmi -f, --rm): what was read may lack what the removal took first
      if (!existsSync(c.dir)) throw new TspodError(`container ${c.config.name} was removed while its changes were read: nothing committed`);
      try {
        return await this.storeImage(c, base, baseConfig, rc, layer, layerTypes, name, format, opts);
      } catch (e) {
        this.store.setGcPending(true); // blobs stored for it go with the collection at the end
        throw e;
      }
    } finally {
      stop();
    }
  }

  /** The helper reading the changes, while it runs (killed on an interrupt). */
  private helper: Bun.Subprocess | undefined;

  /** The layer's blob, the config and the manifest stored, the layer unpacked, the image saved. */
  private async storeImage(
    c: Container,
    base: ImageRecord,
    baseConfig: ImageConfig,
    rc: RunConfig,
    layer: { digest: string; diffID: string; size: number; tmp: string },
    layerTypes: string[],
    name: string | undefined,
    format: ManifestFormat,
    opts: CommitOptions,
  ): Promise<ImageRecord> {
    const tmps = [layer.tmp];
    try {
      opts.onEvent?.({ type: "blob-start", digest: layer.digest, size: layer.size, cached: false });
      const now = new Date().toISOString();
      const config = this.config(c, base, baseConfig, rc, layer.diffID, now, opts, format);
      const cfgBytes = new TextEncoder().encode(JSON.stringify(config));
      const cfgDesc: Descriptor = { mediaType: mediaTypeIn(MEDIA_OCI_CONFIG, format)!, digest: sha256Digest(cfgBytes), size: cfgBytes.length };
      const layerType = mediaTypeIn(MEDIA_OCI_LAYER_GZIP, format)!;
      const layers = [...base.layers.map((l, i) => ({ ...l, mediaType: layerTypes[i] })), { mediaType: layerType, digest: layer.digest, size: layer.size, diffID: layer.diffID }];
      const manifestType = format === "oci" ? MEDIA_OCI_MANIFEST : MEDIA_DOCKER_MANIFEST;
      const manifestBytes = new TextEncoder().encode(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: manifestType,
          config: descriptor(cfgDesc, cfgDesc.mediaType, format),
          layers: layers.map((l) => descriptor(l, l.mediaType, format)),
        }),
      );
      const manifest: Descriptor = { mediaType: manifestType, digest: sha256Digest(manifestBytes), size: manifestBytes.length };

      // blobs in place (the layer's first: the unpack below reads it from the store)
      this.store.commitBlobFile(layer.digest, layer.tmp, true);
      opts.onEvent?.({ type: "blob-done", digest: layer.digest, size: layer.size, cached: false });
      for (const [digest, bytes] of [[cfgDesc.digest, cfgBytes], [manifest.digest, manifestBytes]] as const) {
        if (this.store.hasBlob(digest)) continue;
        const { tmp, synced } = this.store.stageBlob(bytes);
        tmps.push(tmp);
        await synced;
        this.store.commitBlobFile(digest, tmp, true);
      }
      opts.onEvent?.({ type: "config", digest: cfgDesc.digest });

      const names = name ? [name] : [];
      const rec: ImageRecord = {
        id: hexOf(cfgDesc.digest),
        names,
        repoDigests: names.map((n) => `${refName(parseReference(n))}@${manifest.digest}`),
        manifest,
        manifests: [manifest],
        nameDigests: Object.fromEntries(names.map((n) => [n, manifest.digest])),
        config: cfgDesc,
        layers,
        created: now,
        pulled: now,
        size: 0,
        os: config.os ?? base.os,
        architecture: config.architecture ?? base.architecture,
        ...(config.variant ? { variant: config.variant } : {}),
        parent: base.id,
      };
      // the new layer unpacked from its blob, as a pulled one (its diff id checked again)
      trace("commit: blobs stored");
      const { Puller } = await import("./pull.ts");
      await new Puller(this.ctx).refreshLayers(rec);
      trace("commit: layer unpacked");
      rec.size = layers.reduce((s, l) => s + (this.store.layer(l.diffID)?.size ?? 0), 0);
      opts.onEvent?.({ type: "manifest" });
      this.store.saveImage(rec);
      return this.store.image(rec.id) ?? rec;
    } finally {
      for (const t of tmps) rmSync(t, { force: true });
    }
  }

  /**
   * The container's changes as a gzipped tar in a temp file, with its digests,
   * all made by the helper (it compresses on every CPU; a pipe to this process
   * cost ~190 ms of a 400 ms commit of 10 MB).
   */
  private async diffLayer(c: Container, base: ImageRecord): Promise<{ digest: string; diffID: string; size: number; tmp: string }> {
    const vfs = c.config.driver === "vfs";
    const lowers = vfs ? [...base.layers].reverse().flatMap((l) => ["--lower", this.store.diffPath(l.diffID)]) : [];
    const dir = join(c.dir, vfs ? "merged" : "upper");
    const tmp = this.store.tempPath("blob");
    const child = Bun.spawn([helperPath(), "diff-tar", ...mapArgs(), "--gzip", tmp, ...lowers, dir], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.helper = child;
    try {
      const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      if (code !== 0) {
        const why = err.split("\n").find((l) => l.startsWith("tspod-rt: "))?.replace(/^tspod-rt: (diff-tar: )?/, "") || `exit ${code}`;
        throw new TspodError(`reading the changes of ${c.config.name}: ${why}`);
      }
      const r = JSON.parse(out.trim() || "{}") as { diff_id?: string; digest?: string; size?: number };
      if (!r.diff_id || !r.digest || r.size === undefined) throw new TspodError(`reading the changes of ${c.config.name}: the helper gave no digests`);
      return { digest: r.digest, diffID: r.diff_id, size: r.size, tmp };
    } catch (e) {
      child.kill("SIGKILL");
      rmSync(tmp, { force: true });
      throw e;
    } finally {
      this.helper = undefined;
    }
  }

  private config(c: Container, base: ImageRecord, baseConfig: ImageConfig, rc: RunConfig, diffID: string, now: string, opts: CommitOptions, format: ManifestFormat): ImageConfig & Record<string, any> {
    const cfg: ImageConfig & Record<string, any> = { ...baseConfig, created: now };
    if (opts.author !== undefined) cfg.author = opts.author;
    else delete cfg.author;
    if (format === "v2s2" && opts.message) cfg.comment = opts.message;
    else delete cfg.comment;
    cfg.architecture ??= base.architecture;
    cfg.os ??= base.os;
    cfg.config = rc;
    cfg.rootfs = { type: "layers", diff_ids: [...(baseConfig.rootfs?.diff_ids ?? base.layers.map((l) => l.diffID)), diffID] };
    cfg.history = [
      ...(baseConfig.history ?? []),
      {
        created: now,
        created_by: c.config.command.join(" "),
        ...(opts.author ? { author: opts.author } : {}),
        ...(opts.message ? { comment: opts.message } : {}),
      },
    ];
    return cfg;
  }
}
