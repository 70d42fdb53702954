// Facts about the host berth runs on, for front ends.
export { probeKernelFeatures, type KernelFeatures } from '../kernel/features.js';
export { isNetnsPath } from '../kernel/netns.js';
export { peerCredentials } from '../kernel/peer-cred.js';
