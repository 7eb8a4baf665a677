//! `tasks:`: each task's id, device id, interval, timeout and labels;
//! its `config` is read by its plugin, found in `probe::PLUGINS`.

use super::*;

impl Loader<'_> {
    pub(super) fn tasks(&mut self, node: Option<Node>) -> Result<Vec<TaskConfig>, ConfigError> {
        let items = match &node {
            Some(n) => self
                .ctx
                .seq(n, "a list of tasks (each item starting with `- id:`)")?,
            None => Vec::new(),
        };
        let mut tasks: Vec<TaskConfig> = Vec::with_capacity(items.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let task = self.task(item)?;
            if let Some(first) = seen.get(task.id.as_str()) {
                return Err(self.ctx.err(
                    &join(&item.path, "id"),
                    format!(
                        "found {:?}, already the id of tasks[{first}], expected a unique task id",
                        task.id.as_str()
                    ),
                ));
            }
            seen.insert(task.id.0.clone(), i);
            tasks.push(task);
        }
        if !tasks.iter().any(|t| t.enabled) {
            self.warn(format!(
                "{}: no enabled task under tasks: the agent probes nothing",
                self.ctx.file
            ));
        }
        Ok(tasks)
    }

    pub(super) fn task(&mut self, node: &Node) -> Result<TaskConfig, ConfigError> {
        let t = self.ctx.table(node, TASK_KEYS)?;
        let id_node = t.get("id").ok_or_else(|| {
            self.ctx.err(
                &join(&node.path, "id"),
                "is missing, expected a task id like ping-gateway",
            )
        })?;
        let id = self.ctx.string(&id_node, "a task id like ping-gateway")?;
        if !is_task_id(&id) {
            return Err(self.ctx.err(
                &id_node.path,
                format!(
                    "found {id:?}, expected a task id of 1 to {MAX_NAME_LEN} bytes without control characters or surrounding spaces (like ping-gateway)"
                ),
            ));
        }
        let device_id = match t.get("device_id") {
            Some(n) => {
                let d = self
                    .ctx
                    .string(&n, "a device id (a string)")?
                    .trim()
                    .to_string();
                if d.is_empty() {
                    return Err(self.ctx.err(
                        &n.path,
                        "found \"\", expected a device id (leave the key out to use the task id)",
                    ));
                }
                check_label_value(&self.ctx, &n, &d, "a device id")?;
                d
            }
            None => id.clone(),
        };
        let plugin_node = t.get("plugin").ok_or_else(|| {
            self.ctx.err(
                &join(&node.path, "plugin"),
                format!("is missing, expected one of: {}", plugin_names()),
            )
        })?;
        let plugin_name = self.ctx.string(&plugin_node, "a plugin name")?;
        let Some(entry) = crate::probe::plugin(&plugin_name.trim().to_ascii_lowercase()) else {
            let names: Vec<&str> = crate::probe::PLUGINS.iter().map(|p| p.name).collect();
            let hint = match nearest(&plugin_name, &names) {
                Some(n) => format!("; did you mean `{n}`?"),
                None => ",".to_string(),
            };
            return Err(self.ctx.err(
                &plugin_node.path,
                format!(
                    "found unknown plugin {plugin_name:?}{hint} expected one of: {} (`sentinel list-plugins` shows them)",
                    plugin_names()
                ),
            ));
        };
        let interval =
            self.positive_duration(&t, "interval", DEFAULT_TASK_INTERVAL, MIN_TASK_INTERVAL)?;
        let timeout = match t.get("timeout") {
            Some(n) => {
                let d = self.positive_duration(&t, "timeout", interval, ABOVE_ZERO)?;
                if d > interval {
                    return Err(self.ctx.err(
                        &n.path,
                        format!(
                            "found {}, longer than the task's interval {}, expected at most the interval (a run must end before the next starts)",
                            format_duration(d),
                            format_duration(interval)
                        ),
                    ));
                }
                d
            }
            None => interval,
        };
        let enabled = match t.get("enabled") {
            Some(n) => self.ctx.bool(&n)?,
            None => true,
        };
        let labels = match t.get("labels") {
            Some(n) => self.labels(&n)?,
            None => Labels::new(),
        };
        let config_path = join(&node.path, "config");
        let plugin = (entry.read)(self, t.get("config").as_ref(), &config_path, timeout)?;
        let run = plugin.max_run_time();
        if run > timeout {
            let which = if t.has("timeout") {
                "timeout"
            } else {
                "timeout (default: the interval)"
            };
            let how = plugin.run_time_terms();
            return Err(self.ctx.err(
                &config_path,
                format!(
                    "one {} run can take up to {} ({how}), longer than the task's {which} {}; lower the values under config, or raise the task's timeout (and interval)",
                    plugin.name(),
                    format_duration(run),
                    format_duration(timeout)
                ),
            ));
        }
        Ok(TaskConfig {
            id: TaskId(id),
            device_id,
            interval,
            timeout,
            enabled,
            labels,
            plugin,
        })
    }
}

fn plugin_names() -> String {
    crate::probe::PLUGINS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A task id is the `task_id` label value and appears in logs and on the
/// status page (escaped there): any text of 1 to `MAX_NAME_LEN` bytes
/// without control characters or surrounding spaces.
pub fn is_task_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_NAME_LEN
        && id.trim() == id
        && !id.chars().any(char::is_control)
}
