/**
 * Exposure fairness across providers: each simulated item belongs to a provider (fixed by its id),
 * the simulator publishes the catalog with it, and the report compares each provider's share of
 * impressions with its share of relevance (Σ of the users' true click probability over the
 * provider's active items at each request), the way exposure-fairness studies compare exposure
 * with merit. `gap` = ½ Σ |exposure − relevance| (total variation: 0 = exposure ∝ relevance).
 */
import { hashString } from "@recfleet/numeric";

export function providerOf(itemId: string, providers: number): string {
  return `prov-${hashString(itemId) % providers}`;
}

export interface ProviderShare {
  provider: string;
  exposureShare: number;
  relevanceShare: number;
}

export interface ProviderFairness {
  shares: ProviderShare[];
  /** Total variation distance between exposure and relevance shares. */
  gap: number;
}

export class ProviderTally {
  readonly exposure = new Map<string, number>();
  readonly relevance = new Map<string, number>();

  addExposure(provider: string, n = 1): void {
    this.exposure.set(provider, (this.exposure.get(provider) ?? 0) + n);
  }

  addRelevance(provider: string, r: number): void {
    this.relevance.set(provider, (this.relevance.get(provider) ?? 0) + r);
  }

  report(): ProviderFairness {
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0) || 1;
    const e = sum(this.exposure);
    const r = sum(this.relevance);
    const names = [...new Set([...this.exposure.keys(), ...this.relevance.keys()])].sort();
    const shares = names.map((provider) => ({
      provider,
      exposureShare: (this.exposure.get(provider) ?? 0) / e,
      relevanceShare: (this.relevance.get(provider) ?? 0) / r,
    }));
    const gap = shares.reduce((a, s) => a + Math.abs(s.exposureShare - s.relevanceShare), 0) / 2;
    return { shares, gap };
  }
}
