/**
 * Builds every gate of one orchestrator from its config and store, and the image pinning that
 * fixes a release's digest when it is requested.
 */
import type { GangwayConfig } from '../config/types.js';
import type { Store } from '../store/types.js';
import { ApprovalGate } from './approval.js';
import { PromotionGate, ReasonGate, RejectedGate } from './basic.js';
import { ChecklistGate } from './checklist.js';
import { ChecksGate } from './checks.js';
import { FreezeGate } from './freeze.js';
import { GateSet } from './gate-set.js';
import { ImageGate, SignatureGate, resolveImage } from './image.js';
import { parseImageReference } from './registry/reference.js';
import { RegistryClient } from './registry/client.js';
import { WindowGate } from './window.js';

/** Pins image tags to digests where the environment checks images or the registry is configured; null keeps the image as given. */
export interface ImagePinner {
  pin(image: string, environment: string): Promise<{ pinned: string; tag: string | null } | null>;
}

export function createGates(config: GangwayConfig, store: Store, registry = new RegistryClient(config.registries)): { gates: GateSet; images: ImagePinner } {
  const gates = new GateSet(config, [
    new PromotionGate(config, store), new RejectedGate(store), new ReasonGate(config), new FreezeGate(config, store),
    new WindowGate(config), new ImageGate(config, registry), new SignatureGate(config, registry), new ChecksGate(config),
    new ApprovalGate(config, store), new ChecklistGate(config, store),
  ]);
  const known = new Set(config.registries.map((r) => r.host.toLowerCase()));
  const images: ImagePinner = {
    async pin(image, environment) {
      const env = config.environments.find((e) => e.name === environment);
      const host = parseImageReference(image).registry.toLowerCase();
      // A release whose image only labels it (nothing checks images here, its registry is not configured) is kept as given.
      if (!env?.image && !known.has(host)) return null;
      const r = await resolveImage(registry, image);
      return { pinned: r.pinned, tag: r.tag };
    },
  };
  return { gates, images };
}
