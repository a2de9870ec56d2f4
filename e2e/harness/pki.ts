/**
 * Certificates for a local control plane, made with the openssl command line (Node has no
 * X.509 writer): one CA, the API server's serving certificate for 127.0.0.1 and localhost,
 * an admin client certificate in `system:masters`, and the ServiceAccount signing key pair.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly servingCert: string;
  readonly servingKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
  readonly saKey: string;
  readonly saPub: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

const DAYS = '3650';

/** Signs `<name>.crt` (with a new `<name>.key`) in `dir` with the CA there. */
async function signWithCa(dir: string, name: string, subject: string, ext: string): Promise<void> {
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
  await openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      DAYS,
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
}

/**
 * A client certificate of the PKI's CA for `subject` (e.g. `/O=system:nodes/CN=system:node:n1`,
 * the identity a kubelet registers with): returns the certificate's and key's paths.
 */
export async function signClientCert(
  pki: Pki,
  name: string,
  subject: string,
): Promise<{ cert: string; key: string }> {
  await signWithCa(
    pki.dir,
    name,
    subject,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
      '',
    ].join('\n'),
  );
  return { cert: join(pki.dir, `${name}.crt`), key: join(pki.dir, `${name}.key`) };
}

/** Writes a fresh PKI into `dir`. Takes about a second. */
export async function createPki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const p = (f: string) => join(dir, f);

  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  await openssl(
    ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=baton-e2e-ca', '-days', DAYS, '-out', 'ca.crt'],
    dir,
  );

  const sign = (name: string, subject: string, ext: string) => signWithCa(dir, name, subject, ext);

  await sign(
    'serving',
    '/CN=kube-apiserver',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      // 10.96.0.1: the `kubernetes` Service's ClusterIP (the first of --service-cluster-ip-range), which
      // pods on the real node reach the API server through (e2e/harness/real-node.ts).
      'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
      '',
    ].join('\n'),
  );
  await sign(
    'admin',
    '/O=system:masters/CN=baton-e2e-admin',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
      '',
    ].join('\n'),
  );

  // ServiceAccount tokens are signed with RSA (the API server's default signing algorithm).
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);

  return {
    dir,
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    servingCert: p('serving.crt'),
    servingKey: p('serving.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
  };
}
