// The explicit command map for oclif. Command files are thin; heavy engine
// modules are imported lazily inside run(), so this map is cheap to load.
import Help from "./help.ts";
import History from "./history.ts";
import ImageExists from "./image-exists.ts";
import ImageInspect from "./image-inspect.ts";
import ImagePrune from "./image-prune.ts";
import Images from "./images.ts";
import Info from "./info.ts";
import Login from "./login.ts";
import Logout from "./logout.ts";
import Pull from "./pull.ts";
import Rmi from "./rmi.ts";
import Tag from "./tag.ts";
import Untag from "./untag.ts";
import Version from "./version.ts";

export const COMMANDS = {
  help: Help,
  history: History,
  "image:exists": ImageExists,
  "image:inspect": ImageInspect,
  "image:prune": ImagePrune,
  "image:pull": Pull,
  images: Images,
  info: Info,
  login: Login,
  logout: Logout,
  pull: Pull,
  rmi: Rmi,
  tag: Tag,
  untag: Untag,
  version: Version,
};
