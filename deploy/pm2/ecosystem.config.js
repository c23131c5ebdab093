// PM2 process file for oxmon, with the default paths of scripts/install.sh.
// `install.sh server|agent --setup-pm2` (or --pm2-only) writes one like it
// for the paths it was given, as <config-dir>/oxmon-<server|agent>.pm2.config.js.
//
//   pm2 start ecosystem.config.js --only oxmon-server   # on the server host
//   pm2 start ecosystem.config.js --only oxmon-agent    # on each monitored host
//   pm2 save && pm2 startup
//   pm2 logs oxmon-server       # the first admin password is printed once
//
// TZ: the time zone of the PM2 log timestamps and of the silence windows when
// server.toml sets no [notification] timezone (Beijing time by default, as in
// the spec's pm2 commands; change it to yours).
module.exports = {
  apps: [
    {
      name: "oxmon-server",
      script: "/usr/local/bin/oxmon-server",
      args: ["/etc/oxmon/server.toml"],
      interpreter: "none",
      cwd: "/var/lib/oxmon",
      autorestart: true,
      // A configuration error exits 2: restarting will not fix it.
      stop_exit_codes: [2],
      // PM2 stops with SIGINT; the server then flushes. Allow it 30 s.
      kill_timeout: 30000,
      log_date_format: "YYYY-MM-DD HH:mm:ss Z",
      env: { TZ: "Asia/Shanghai" },
    },
    {
      name: "oxmon-agent",
      script: "/usr/local/bin/oxmon-agent",
      args: ["/etc/oxmon/agent.toml"],
      interpreter: "none",
      autorestart: true,
      stop_exit_codes: [2],
      kill_timeout: 30000,
      log_date_format: "YYYY-MM-DD HH:mm:ss Z",
      env: { TZ: "Asia/Shanghai" },
    },
  ],
};
