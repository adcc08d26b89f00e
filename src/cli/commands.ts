// The explicit command map for oclif. Command files are thin; heavy engine
// modules are imported lazily inside run(), so this map is cheap to load.
import Attach from "./attach.ts";
import Commit from "./commit.ts";
import Completion from "./completion.ts";
import { ContainerCleanup, ContainerExists, ContainerPrune, Kill, Pause, Rename, Restart, Rm, Start, Stop, Unpause, Wait } from "./container-cmds.ts";
import Create from "./create-cmd.ts";
import Exec from "./exec.ts";
import Help from "./help.ts";
import History from "./history.ts";
import ImageExists from "./image-exists.ts";
import ImageInspect from "./image-inspect.ts";
import ImagePrune from "./image-prune.ts";
import Images from "./images.ts";
import Info from "./info.ts";
import Inspect, { ContainerInspect } from "./inspect.ts";
import Login from "./login.ts";
import Logout from "./logout.ts";
import Logs from "./logs.ts";
import { PodCreate, PodExists, PodInspect, PodKill, PodPs, PodRestart, PodRm, PodStart, PodStop } from "./pod.ts";
import Port from "./port.ts";
import Ps from "./ps.ts";
import Pull from "./pull.ts";
import Push from "./push.ts";
import Rmi from "./rmi.ts";
import Run from "./run-cmd.ts";
import Stats from "./stats.ts";
import Tag from "./tag.ts";
import Top from "./top.ts";
import Untag from "./untag.ts";
import Version from "./version.ts";
import { VolumeCreate, VolumeExists, VolumeInspect, VolumeLs, VolumePrune, VolumeRm } from "./volume.ts";

export const COMMANDS = {
  attach: Attach,
  commit: Commit,
  completion: Completion,
  "container:cleanup": ContainerCleanup,
  "container:exists": ContainerExists,
  "container:prune": ContainerPrune,
  create: Create,
  exec: Exec,
  help: Help,
  history: History,
  "image:exists": ImageExists,
  "image:inspect": ImageInspect,
  "image:prune": ImagePrune,
  "image:pull": Pull,
  "image:push": Push,
  images: Images,
  info: Info,
  inspect: Inspect,
  "container:inspect": ContainerInspect,
  kill: Kill,
  login: Login,
  logout: Logout,
  logs: Logs,
  pause: Pause,
  "pod:create": PodCreate,
  "pod:exists": PodExists,
  "pod:inspect": PodInspect,
  "pod:ps": PodPs,
  "pod:rm": PodRm,
  "pod:restart": PodRestart,
  "pod:kill": PodKill,
  "pod:start": PodStart,
  "pod:stop": PodStop,
  port: Port,
  ps: Ps,
  pull: Pull,
  push: Push,
  rename: Rename,
  restart: Restart,
  rm: Rm,
  rmi: Rmi,
  run: Run,
  start: Start,
  stats: Stats,
  stop: Stop,
  tag: Tag,
  top: Top,
  unpause: Unpause,
  untag: Untag,
  version: Version,
  "volume:create": VolumeCreate,
  "volume:exists": VolumeExists,
  "volume:inspect": VolumeInspect,
  "volume:ls": VolumeLs,
  "volume:prune": VolumePrune,
  "volume:rm": VolumeRm,
  wait: Wait,
};
