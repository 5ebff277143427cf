// Dashboard entry: mounts the app. Views live in ./views, the API client in ./api.ts, shared live state in ./store.ts.
import { createApp } from 'vue';
import App from './App.vue';
import './style.css';

createApp(App).mount('#app');
