// The API as OpenAPI 3.1, served at /openapi.json. test/unit/api-openapi.test.ts keeps it in step
// with the routes the server really has; request bodies are the zod schemas the server decodes with.
import { CliBody, CliContinueBody, CniBody, ContainerCreateBody, jsonSchemaOf, NetworkConnectBody, NetworkCreateBody, NetworkDisconnectBody } from './schemas.js';

const json = { 'application/json': { schema: { type: 'object' } } };
const requestBody = (name: string) => ({ required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } } });
const error = { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
const ok = (description: string, body = true) => ({ description, ...(body ? { content: json } : {}) });
const idParam = (name: string, what: string) => ({ name, in: 'path', required: true, description: `${what} name, id or unique id prefix`, schema: { type: 'string' } });

export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'berth API',
    version: '1.41',
    description:
      'A subset of the Docker Engine API (system and networks; every path also answers under /v1.NN/) plus berth routes for containers, topology and events. Errors are {"message": "..."}.',
  },
  servers: [{ url: 'unix:///run/berth/berth.sock' }],
  components: {
    schemas: {
      Error: { type: 'object', required: ['message'], properties: { message: { type: 'string' } } },
      NetworkCreate: jsonSchemaOf(NetworkCreateBody),
      NetworkConnect: jsonSchemaOf(NetworkConnectBody),
      NetworkDisconnect: jsonSchemaOf(NetworkDisconnectBody),
      ContainerCreate: jsonSchemaOf(ContainerCreateBody),
      BerthCli: jsonSchemaOf(CliBody),
      BerthCliContinue: jsonSchemaOf(CliContinueBody),
      BerthCni: jsonSchemaOf(CniBody),
    },
  },
  paths: {
    '/_ping': { get: { summary: 'Liveness; HEAD works too. Sets the Api-Version header.', responses: { 200: ok('OK', false) } } },
    '/info': { get: { summary: 'System information (Docker SystemInfo shape: `docker info`)', responses: { 200: ok('info') } } },
    '/version': { get: { summary: 'Versions (Docker shape)', responses: { 200: ok('versions') } } },
    '/networks': {
      get: {
        summary: 'List networks (Docker shape, host and none included); filters: name, id (regular expressions), driver, label, type, scope, dangling',
        parameters: [{ name: 'filters', in: 'query', schema: { type: 'string' } }],
        responses: { 200: ok('networks'), 400: error },
      },
    },
    '/networks/create': {
      post: {
        summary: 'Create a network: {Name, Driver, IPAM:{Config:[{Subnet,Gateway,IPRange,AuxiliaryAddresses}]}, Internal, Attachable, EnableIPv6, Options, Labels}; a field of the wrong type is a 400 naming it; Ingress, ConfigOnly, ConfigFrom, IPAM.Options, EnableIPv4=false are refused',
        requestBody: requestBody('NetworkCreate'),
        responses: { 201: ok('{Id, Warning}'), 400: error, 409: error, 413: error },
      },
    },
    '/networks/{id}': {
      get: { summary: 'Inspect a network (host and none too); scope= narrows to local or swarm', parameters: [idParam('id', 'network'), { name: 'scope', in: 'query', schema: { type: 'string' } }], responses: { 200: ok('network'), 404: error } },
      delete: { summary: 'Remove a network', parameters: [idParam('id', 'network')], responses: { 204: ok('removed', false), 403: error, 404: error } },
    },
    '/networks/{id}/connect': {
      post: {
        summary: 'Connect a container: {Container, EndpointConfig:{IPAMConfig:{IPv4Address,IPv6Address}, Aliases, MacAddress, GwPriority}}',
        parameters: [idParam('id', 'network')],
        requestBody: requestBody('NetworkConnect'),
        responses: { 200: ok('connected', false), 400: error, 403: error, 404: error, 409: error },
      },
    },
    '/networks/{id}/disconnect': {
      post: {
        summary: 'Disconnect a container: {Container, Force}',
        parameters: [idParam('id', 'network')],
        requestBody: requestBody('NetworkDisconnect'),
        responses: { 200: ok('disconnected', false), 400: error, 404: error },
      },
    },
    '/networks/prune': {
      post: {
        summary: 'Remove unused networks; filters: until (a duration such as 1h, or a timestamp), label, label!',
        parameters: [{ name: 'filters', in: 'query', schema: { type: 'string' } }],
        responses: { 200: ok('{NetworksDeleted}'), 400: error },
      },
    },
    '/containers/json': {
      get: {
        summary: 'List containers (Docker ContainerSummary shape: `docker ps`); all (Docker boolean) for stopped ones too; filters: id, name, status',
        parameters: [{ name: 'all', in: 'query', schema: { type: 'string' } }, { name: 'filters', in: 'query', schema: { type: 'string' } }],
        responses: { 200: ok('containers'), 400: error },
      },
    },
    '/containers/create': {
      post: {
        summary: 'Create and start a detached container: {Cmd, Entrypoint, Hostname, ExposedPorts, MacAddress, HostConfig:{NetworkMode, PortBindings, PublishAllPorts, AutoRemove, Dns (IP addresses)}, NetworkingConfig:{EndpointsConfig}}; ?name=. berth has no images: Image is refused, as are Env, User, WorkingDir, Labels, Volumes, Binds and the other fields it cannot honour',
        parameters: [{ name: 'name', in: 'query', schema: { type: 'string' } }],
        requestBody: requestBody('ContainerCreate'),
        responses: { 201: ok('{Id, Warnings}'), 400: error, 403: error, 404: error, 409: error, 413: error },
      },
    },
    '/containers/{id}/json': { get: { summary: 'Inspect a container (Docker shape)', parameters: [idParam('id', 'container')], responses: { 200: ok('container'), 404: error } } },
    '/containers/{id}/stop': {
      post: { summary: 'SIGTERM, then SIGKILL after t seconds', parameters: [idParam('id', 'container'), { name: 't', in: 'query', schema: { type: 'integer' } }], responses: { 204: ok('stopped', false), 404: error } },
    },
    '/containers/{id}': {
      delete: { summary: 'Remove a container; force (Docker booleans: anything but "", 0, no, false, none is true) kills a running one', parameters: [idParam('id', 'container'), { name: 'force', in: 'query', schema: { type: 'string' } }], responses: { 204: ok('removed', false), 404: error, 409: error } },
    },
    '/topology': { get: { summary: 'Hosts, namespaces, bridges, veth pairs, addresses, routes and published ports as one graph {nodes, edges}', responses: { 200: ok('graph') } } },
    '/events': { get: { summary: 'Server-sent events: one JSON event (Docker shape) per change', responses: { 200: { description: 'text/event-stream' } } } },
    '/openapi.json': { get: { summary: 'This document', responses: { 200: ok('OpenAPI') } } },
    '/berth/v1/cli': {
      post: {
        summary: 'Run a berth command line for the thin client: body {argv, cwd, pid, path}; answer: frames "<tag> <length>\\n<bytes>" (1 stdout, 2 stderr, x status, r run hand-over, e exec, l run locally)',
        requestBody: requestBody('BerthCli'),
        responses: { 200: { description: 'application/vnd.berth.cli-frames' }, 400: error },
      },
    },
    '/berth/v1/cni': {
      post: {
        summary: 'A CNI plugin call for the native berth-cni: body {env: {CNI_COMMAND, CNI_CONTAINERID, ...}, stdin: the network configuration}; answer: frames (1 the plugin output, x its exit status)',
        requestBody: requestBody('BerthCni'),
        responses: { 200: { description: 'application/vnd.berth.cli-frames' }, 400: error },
      },
    },
    '/berth/v1/cli/continue': {
      post: {
        summary: 'The thin client reports how the shim it started after an r frame ended: body {token, status}; answer: frames',
        requestBody: requestBody('BerthCliContinue'),
        responses: { 200: { description: 'application/vnd.berth.cli-frames' }, 400: error },
      },
    },
  },
};
