// Peer servers the load tool starts: each binds port 0 and prints `listening <port>`.
import { spawn } from 'node:child_process';
import { track } from './children.mjs';

/**
 * Starts `count` copies of `script` on free ports (each binds port 0 and prints the one it got);
 * resolves once all are listening, rejects with the stderr of one that exited before.
 */
export async function spawnServers(script, count, env, nodeArgs = []) {
  const children = [];
  const killAll = () => children.forEach((child) => child.kill('SIGKILL'));
  const launch = () =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [...nodeArgs, script], {
        env: { PATH: process.env.PATH, NODE_ENV: 'production', ...env, HOST: '127.0.0.1', PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      track(child);
      let stdout = '';
      let stderr = '';
      const onStdout = (chunk) => {
        stdout += chunk;
        const match = /^listening (\d+)$/m.exec(stdout);
        if (!match) return;
        child.stdout.off('data', onStdout).resume();
        child.stderr.off('data', onStderr).pipe(process.stderr);
        child.off('exit', onExit);
        resolve(Number(match[1]));
      };
      const onStderr = (chunk) => (stderr += chunk);
      const onExit = (code, signal) =>
        reject(new Error(`${script} exited (${signal ?? code}) before listening:\n${stderr}`));
      child.stdout.setEncoding('utf8').on('data', onStdout);
      child.stderr.setEncoding('utf8').on('data', onStderr);
      child.on('exit', onExit);
    });
  let ports;
  try {
    ports = await Promise.all(Array.from({ length: count }, launch));
  } catch (err) {
    killAll();
    throw err;
  }
  const stop = async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  };
  const stopOne = (index, signal) =>
    new Promise((resolve) => {
      const child = children[index];
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  return { ports, pids: children.map((child) => child.pid), stop, stopOne };
}

/**
 * Starts a peer (`script`, one process per node) as a system of the load tool: `urlOf(port)` is
 * where its clients connect; publishers reach it through Redis.
 */
export async function startPeer(script, urlOf, { redisUrl, secret, nodes, env = {}, nodeArgs = [] }) {
  const servers = await spawnServers(script, nodes, { ...env, REDIS_URL: redisUrl, JWT_SECRET: secret }, nodeArgs);
  return {
    wsUrls: servers.ports.map(urlOf),
    pids: servers.pids,
    publishTarget: { redisUrl },
    stopNode: servers.stopOne,
    stop: servers.stop,
  };
}
