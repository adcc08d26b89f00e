// Which containers use an image (rmi and image prune refuse those).
import type { Context } from "../context.ts";
import type { ImageUsers } from "./images.ts";
import { ContainerStore } from "../container/record.ts";

export function imageUsers(ctx: Context): ImageUsers {
  const store = new ContainerStore(ctx);
  return (id) => store.usersOf(id);
}
