import { detectCiMetadata, mergeMetadata, METADATA_LIMITS, parseMetadataPairs } from './ci-metadata';

describe('detectCiMetadata', () => {
  it('GitHub Actions: the run URL from the server, repository and run id', () => {
    const meta = detectCiMetadata({
      GITHUB_ACTIONS: 'true',
      GITHUB_SERVER_URL: 'https://github.example.com',
      GITHUB_REPOSITORY: 'flxbl-io/sf-core',
      GITHUB_RUN_ID: '9876',
      GITHUB_SHA: 'abc123',
      GITHUB_REF_NAME: 'main',
      GITHUB_WORKFLOW: 'release',
      GITHUB_JOB: 'deploy',
    });
    expect(meta).toEqual({
      ci: 'github-actions',
      ciUrl: 'https://github.example.com/flxbl-io/sf-core/actions/runs/9876',
      commit: 'abc123',
      ref: 'main',
      job: 'release / deploy',
    });
  });

  it('GitLab: the job URL', () => {
    expect(detectCiMetadata({ GITLAB_CI: 'true', CI_JOB_URL: 'https://gitlab.example.com/g/p/-/jobs/7', CI_COMMIT_SHA: 'def', CI_COMMIT_REF_NAME: 'release/1', CI_JOB_NAME: 'deploy-uat' })).toEqual({
      ci: 'gitlab',
      ciUrl: 'https://gitlab.example.com/g/p/-/jobs/7',
      commit: 'def',
      ref: 'release/1',
      job: 'deploy-uat',
    });
  });

  it('Jenkins: BUILD_URL', () => {
    expect(detectCiMetadata({ JENKINS_URL: 'https://ci/', BUILD_URL: 'https://ci/job/app/12/', GIT_COMMIT: 'f00', GIT_BRANCH: 'origin/main', JOB_NAME: 'app', BUILD_NUMBER: '12' })).toEqual({
      ci: 'jenkins',
      ciUrl: 'https://ci/job/app/12/',
      commit: 'f00',
      ref: 'origin/main',
      job: 'app #12',
    });
  });

  it('Azure Pipelines: the build results page from the collection, project and build id', () => {
    const meta = detectCiMetadata({
      TF_BUILD: 'True',
      SYSTEM_COLLECTIONURI: 'https://dev.azure.com/org/',
      SYSTEM_TEAMPROJECT: 'Release Tools',
      BUILD_BUILDID: '314',
      BUILD_SOURCEVERSION: 'cafe',
      BUILD_SOURCEBRANCHNAME: 'main',
      SYSTEM_JOBDISPLAYNAME: 'Deploy UAT',
    });
    expect(meta).toEqual({
      ci: 'azure-pipelines',
      ciUrl: 'https://dev.azure.com/org/Release%20Tools/_build/results?buildId=314',
      commit: 'cafe',
      ref: 'main',
      job: 'Deploy UAT',
    });
  });

  it('outside CI: the host name, so a ticket still says where it came from', () => {
    expect(Object.keys(detectCiMetadata({}))).toEqual(['host']);
  });

  it('drops what the service would refuse: control characters, over-long values, empty fields', () => {
    const meta = detectCiMetadata({ GITLAB_CI: 'true', CI_JOB_URL: `https://x/${'a'.repeat(600)}`, CI_COMMIT_SHA: 'ab\u0007c\u202e', CI_JOB_NAME: '' });
    expect(meta.ciUrl).toHaveLength(METADATA_LIMITS.valueLength);
    expect(meta.commit).toBe('abc');
    expect(meta).not.toHaveProperty('job');
  });
});

describe('--meta pairs', () => {
  it('parses key=value, the value may hold "="', () => {
    expect(parseMetadataPairs(['ticket=JIRA-1', 'query=a=b'])).toEqual({ metadata: { ticket: 'JIRA-1', query: 'a=b' } });
  });

  it.each([
    [['novalue'], /key=value/],
    [['=x'], /key=value/],
    [[`${'k'.repeat(65)}=v`], /longer than 64/],
    [[`k=${'v'.repeat(513)}`], /longer than 512/],
    [['k=a\u0001b'], /not printable/],
  ])('refuses %j', (pairs, message) => {
    const result = parseMetadataPairs(pairs);
    expect('error' in result && result.error).toMatch(message);
  });

  it('given pairs win over detected ones, within 16 entries', () => {
    const detected = { ci: 'gitlab', ciUrl: 'https://x', commit: 'c' };
    const given = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, 'v']));
    const merged = mergeMetadata(detected, { ...given, commit: 'mine' });
    expect('metadata' in merged && merged.metadata).toMatchObject({ commit: 'mine' });
    expect('metadata' in merged && Object.keys(merged.metadata)).toHaveLength(16);
    expect(mergeMetadata({}, Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])))).toEqual({ error: 'at most 16 --meta pairs' });
  });
});
