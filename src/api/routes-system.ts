// Docker Engine API: system (ping, version, info); and berth's own read-only routes: the
// topology and the API description.
import { release } from 'node:os';
import { VERSION } from '../common/version.js';
import { API_VERSION, MIN_API_VERSION, type RouteSpec } from './http.js';
import { OPENAPI } from './openapi.js';

export const systemRoutes: RouteSpec[] = [
  { method: 'GET', path: '/_ping', handler: async () => 'OK' },
  {
    method: 'GET',
    path: '/version',
    handler: async () => ({
      Platform: { Name: 'berth' },
      Components: [{ Name: 'berth', Version: VERSION, Details: { ApiVersion: API_VERSION } }],
      Version: VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      Os: 'linux',
      Arch: process.arch === 'x64' ? 'amd64' : process.arch,
      KernelVersion: release(),
      GoVersion: `node${process.versions.node}`,
      GitCommit: 'berth',
      BuildTime: '',
    }),
  },
  {
    method: 'GET',
    path: '/info',
    handler: async (engine) => {
      const { listContainers } = await import('../engine/containers.js');
      const { systemInfo } = await import('./docker-shapes.js');
      return systemInfo(engine, listContainers(engine, true), API_VERSION);
    },
  },
];

export const berthRoutes: RouteSpec[] = [
  {
    method: 'GET',
    path: '/topology',
    handler: async (engine) => {
      const { topology } = await import('../engine/topology.js');
      return topology(engine);
    },
  },
  { method: 'GET', path: '/openapi.json', handler: async () => OPENAPI },
];
