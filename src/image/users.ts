// Which containers use an image. Containers land with the run issue; until then none do.
import type { Context } from "../context.ts";
import type { ImageUsers } from "./images.ts";

export function imageUsers(_ctx: Context): ImageUsers {
  return () => [];
}
