import type { ChatModel } from '../../pricing/catalog.js';
import type { ProvidersFile } from '../routes-file.js';
import type { ChatUpstream } from './upstream.js';

/** One way to serve a public model: a provider's adapter and the id the provider knows it by. */
export interface ChatRoute {
  /** The provider's name in PROVIDERS_FILE: for our logs only, never shown to a customer. */
  provider: string;
  upstreamModel: string;
  upstream: ChatUpstream;
}

/**
 * Where each public chat model is served, in the order its routes are tried. Models the routes
 * file does not list go to the shorthand upstream (`UPSTREAM_BASE_URL` or the simulator), if any;
 * otherwise they have no route and cannot be served.
 */
export class ModelRoutes {
  private readonly byModel = new Map<string, ChatRoute[]>();

  constructor(
    file: ProvidersFile | undefined,
    adapters: ReadonlyMap<string, ChatUpstream>,
    private readonly shorthand?: ChatUpstream,
  ) {
    for (const [model, routes] of Object.entries(file?.models ?? {})) {
      this.byModel.set(
        model,
        routes.map((r) => ({ provider: r.provider, upstreamModel: r.model, upstream: adapters.get(r.provider)! })),
      );
    }
  }

  for(model: ChatModel): ChatRoute[] {
    const routes = this.byModel.get(model.id);
    if (routes) return routes;
    return this.shorthand ? [{ provider: 'upstream', upstreamModel: model.upstream_model, upstream: this.shorthand }] : [];
  }
}
