// berth's container routes, Docker-shaped: list, create (and start), inspect, stop, remove.
import { publish } from './events.js';
import { HttpError, type RouteSpec } from './http.js';
import { dockerBool } from './query.js';

export const containerRoutes: RouteSpec[] = [
  {
    method: 'GET',
    path: '/containers/json',
    handler: async (engine, req) => {
      const { listContainers } = await import('../engine/containers.js');
      const { inspectContainer } = await import('../engine/inspect.js');
      const { filtersFromJson } = await import('../engine/network-filters.js');
      const { checkContainerFilters, containerMatches, containerSummary } = await import('./docker-shapes.js');
      const filters = filtersFromJson(req.query.get('filters'));
      checkContainerFilters(filters);
      // Docker: status filters imply all
      const all = dockerBool(req.query.get('all')) || filters.status !== undefined;
      return listContainers(engine, all)
        .filter((c) => containerMatches(c, filters))
        .map((c) => containerSummary(c, inspectContainer(engine, c)));
    },
  },
  {
    method: 'POST',
    path: '/containers/create',
    status: 201,
    handler: async (engine, req) => {
      const { runSpecFromRequest } = await import('./containers.js');
      const { runContainer } = await import('../engine/containers.js');
      const spec = runSpecFromRequest(req.body, req.query.get('name') ?? undefined);
      const started = await runContainer(engine, spec);
      for (const Action of ['create', 'start']) publish({ Type: 'container', Action, Actor: { ID: started.id, Attributes: { name: started.name } } });
      return { Id: started.id, Warnings: started.warnings };
    },
  },
  {
    method: 'GET',
    path: '/containers/{id}/json',
    handler: async (engine, req) => {
      const { getContainer } = await import('../engine/containers.js');
      const { inspectContainer } = await import('../engine/inspect.js');
      return inspectContainer(engine, getContainer(engine, req.params.id ?? ''));
    },
  },
  {
    method: 'POST',
    path: '/containers/{id}/stop',
    status: 204,
    handler: async (engine, req) => {
      const { stopContainer } = await import('../engine/containers.js');
      const t = Number(req.query.get('t') ?? '10');
      if (!Number.isInteger(t) || t < 0) throw new HttpError(400, `invalid t "${req.query.get('t')}": expected seconds`);
      const c = await stopContainer(engine, req.params.id ?? '', t);
      publish({ Type: 'container', Action: 'stop', Actor: { ID: c.id, Attributes: { name: c.name } } });
      return undefined;
    },
  },
  {
    method: 'DELETE',
    path: '/containers/{id}',
    status: 204,
    handler: async (engine, req) => {
      const { removeContainer } = await import('../engine/containers.js');
      const force = dockerBool(req.query.get('force'));
      const c = await removeContainer(engine, req.params.id ?? '', force);
      publish({ Type: 'container', Action: 'destroy', Actor: { ID: c.id, Attributes: { name: c.name } } });
      return undefined;
    },
  },
];
